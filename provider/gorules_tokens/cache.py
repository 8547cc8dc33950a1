"""Short-lived, single-flight cache of environment lists.

The BRMS has no GET-by-id for environments, so reading one token means listing
the whole project. A ``pulumi refresh`` of N tokens in one project would cost N
identical list calls; the provider process serves up to 4 RPCs at once on
threads, so this cache is thread-safe and single-flight: concurrent readers of
the same (base_url, project) wait for one request. Entries live a few seconds
only, and any regenerate/deploy in that project invalidates them.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Callable, Generic, Hashable, Optional, TypeVar

from .errors import BrmsError

T = TypeVar("T")


@dataclass
class _Entry(Generic[T]):
    future: "Future[T]" = field(default_factory=Future)
    expires_at: Optional[float] = None  # None while in flight


class SingleFlightCache(Generic[T]):
    def __init__(self, ttl: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[Hashable, _Entry[T]] = {}

    def get(self, key: Hashable, loader: Callable[[], T]) -> T:
        """Return a fresh cached value, wait for an in-flight load, or load."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.expires_at is not None and entry.expires_at <= self._clock():
                del self._entries[key]
                entry = None
            owner = entry is None
            if owner:
                entry = _Entry()
                self._entries[key] = entry
        assert entry is not None
        if not owner:
            try:
                return entry.future.result()
            except BrmsError as exc:
                # Fresh instance: one exception object must not collect
                # tracebacks from several threads.
                raise exc.copy() from None
        try:
            value = loader()
        except BaseException as exc:
            with self._lock:
                if self._entries.get(key) is entry:
                    del self._entries[key]
            entry.future.set_exception(exc)
            raise
        with self._lock:
            if self._entries.get(key) is entry:
                entry.expires_at = self._clock() + self._ttl
        entry.future.set_result(value)
        return value

    def invalidate(self, key: Hashable) -> None:
        """Forget ``key``; an in-flight load still answers its waiters but is not kept."""
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

"""Single-flight cache of environment lists, for one provider process (one operation).

The BRMS has no GET-by-id for environments, so reading one token means listing
the whole project. A ``pulumi refresh`` of N tokens in one project would cost N
identical list calls; the provider process serves up to 4 RPCs at once on
threads, so this cache is thread-safe and single-flight: concurrent readers of
the same (base_url, project) wait for one request.

How long a list is kept: for the rest of the process, which the engine starts for one
operation (one ``refresh``, ``up`` or ``destroy``) and stops after it. The promise is one list
per project per operation, whatever the load: a wall-clock lifetime (5 s until issue 25) broke
it on a loaded machine, where one refresh of a project's tokens outlived it and listed again.
What this process changes itself (a regenerate or deploy in that project) invalidates the
project's list, so no call reads a list older than its own process's last change there.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Callable, Generic, Hashable, TypeVar

from .errors import BrmsError

T = TypeVar("T")


@dataclass
class _Entry(Generic[T]):
    future: "Future[T]" = field(default_factory=Future)


class SingleFlightCache(Generic[T]):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[Hashable, _Entry[T]] = {}

    def get(self, key: Hashable, loader: Callable[[], T]) -> T:
        """Return the cached value, wait for an in-flight load, or load."""
        with self._lock:
            entry = self._entries.get(key)
            owner = entry is None
            if entry is None:
                entry = _Entry()
                self._entries[key] = entry
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
            # Failures are not kept: the next reader tries again (its own retries included).
            with self._lock:
                if self._entries.get(key) is entry:
                    del self._entries[key]
            entry.future.set_exception(exc)
            raise
        entry.future.set_result(value)
        return value

    def invalidate(self, key: Hashable) -> None:
        """Forget ``key``; an in-flight load still answers its waiters but is not kept."""
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

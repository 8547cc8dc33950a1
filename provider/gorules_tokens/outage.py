"""Remembers, per BRMS URL, that an earlier call in this process gave up on an outage.

Each provider call has its own retry budget, and the engine runs up to four calls at a
time, so without this a `pulumi up` of many tokens against a dead BRMS would spend the
budget again and again (measured: 92 s for 8 tokens against a hung server). Once one call
has exhausted its retries on connection errors, timeouts or 5xx, later calls to the same
URL fail at once, so an outage fails the whole run within one budget.
"""

from __future__ import annotations

import threading
import time
from typing import Callable, Optional

OUTAGE_MEMORY_S = 60.0


class OutageRegistry:
    def __init__(self, memory_s: float = OUTAGE_MEMORY_S, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._down: dict[str, tuple[float, str]] = {}
        self._memory = memory_s
        self._clock = clock

    def mark_down(self, base_url: str, reason: str) -> None:
        with self._lock:
            self._down[base_url] = (self._clock() + self._memory, reason)

    def mark_up(self, base_url: str) -> None:
        with self._lock:
            self._down.pop(base_url, None)

    def down_reason(self, base_url: str) -> Optional[str]:
        """Why the URL counts as down, or None when it does not (any more)."""
        with self._lock:
            entry = self._down.get(base_url)
            if entry is None:
                return None
            until, reason = entry
            if self._clock() >= until:
                del self._down[base_url]
                return None
            return reason

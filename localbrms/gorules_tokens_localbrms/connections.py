"""TCP-connection accounting at the uvicorn protocol level.

Why here and not in ASGI: an ASGI app only sees requests, so it cannot tell a request on
a reused keep-alive connection from one on a fresh connection. A subclass of uvicorn's h11
protocol sees ``connection_made``/``connection_lost`` for every socket; it registers each
connection with the :class:`ConnectionTracker` and exposes the record to the app through
``scope["extensions"]["localbrms.connection"]`` (also used to abort the socket for the
"drop" fault).
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

SCOPE_KEY = "localbrms.connection"


@dataclass
class ConnectionRecord:
    """One accepted TCP connection."""

    id: int
    transport: asyncio.Transport
    requests: int = 0
    api_requests: int = 0
    closed: bool = False

    def abort(self) -> None:
        """Reset the socket at once: no HTTP response, the client sees a dropped connection."""
        self.transport.abort()


@dataclass
class _Counters:
    accepted: int = 0
    opened: int = 0
    closed: int = 0
    requests_on_new: int = 0
    requests_on_reused: int = 0


class ConnectionTracker:
    """Counts connections; requests to ``/_localbrms/*`` do not make a connection count.

    ``opened`` counts connections whose first request (since the last reset) was a
    non-admin one, so the test harness' own admin calls never skew the numbers; it always
    equals ``requestsOnNewConnections``.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._live: dict[int, ConnectionRecord] = {}
        self._c = _Counters()

    def opened(self, transport: asyncio.Transport) -> ConnectionRecord:
        with self._lock:
            record = ConnectionRecord(next(self._ids), transport)
            self._live[record.id] = record
            self._c.accepted += 1
            return record

    def closed(self, record: ConnectionRecord) -> None:
        with self._lock:
            if record.closed:
                return
            record.closed = True
            self._live.pop(record.id, None)
            if record.api_requests:
                self._c.closed += 1

    def request(self, record: ConnectionRecord | None, *, admin: bool) -> None:
        """Account one request on ``record``; reuse means an earlier request used the socket."""
        if record is None:
            return
        with self._lock:
            reused = record.requests > 0
            record.requests += 1
            if admin:
                return
            record.api_requests += 1
            if reused:
                self._c.requests_on_reused += 1
            else:
                self._c.opened += 1
                self._c.requests_on_new += 1

    def reset(self) -> None:
        with self._lock:
            self._c = _Counters()

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            live_api = sum(1 for r in self._live.values() if r.api_requests or not r.requests)
            return {
                "opened": self._c.opened,
                "open": live_api,
                "closed": self._c.closed,
                "accepted": self._c.accepted,
                "requestsOnNewConnections": self._c.requests_on_new,
                "requestsOnReusedConnections": self._c.requests_on_reused,
            }


def tracked_protocol(tracker: ConnectionTracker) -> type[H11Protocol]:
    """An h11 protocol class bound to ``tracker`` (pass as ``uvicorn.Config(http=...)``)."""

    class TrackedH11Protocol(H11Protocol):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._record: ConnectionRecord | None = None
            inner = self.app

            async def app(scope: Any, receive: Any, send: Any) -> None:
                scope.setdefault("extensions", {})[SCOPE_KEY] = self._record
                await inner(scope, receive, send)

            self.app = app

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            self._record = tracker.opened(transport)
            super().connection_made(transport)

        def connection_lost(self, exc: Exception | None) -> None:
            if self._record is not None:
                tracker.closed(self._record)
            super().connection_lost(exc)

    return TrackedH11Protocol


def connection_of(scope: MutableMapping[str, Any]) -> ConnectionRecord | None:
    return (scope.get("extensions") or {}).get(SCOPE_KEY)

"""Request counters (method, route template, status) plus the connection tracker's numbers.

The middleware is the outermost layer so it sees what the client sees, including injected
fault statuses; a request answered with no HTTP response (dropped connection, client gone)
is counted with status 0. ``/_localbrms/*`` requests are not counted.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gorules_tokens_localbrms.connections import ConnectionTracker, connection_of
from gorules_tokens_localbrms.ids import now_iso
from gorules_tokens_localbrms.routing import TEMPLATE_KEY, RouteTable, is_admin_path


class RequestMetrics:
    """Thread-safe counters, reset by ``POST /_localbrms/metrics/reset``."""

    def __init__(self, tracker: ConnectionTracker) -> None:
        self.tracker = tracker
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str, int]] = Counter()
        self._since = now_iso()

    def record(self, method: str, route: str, status: int) -> None:
        with self._lock:
            self._counts[(method, route, status)] += 1

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()
            self._since = now_iso()
        self.tracker.reset()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            counts = sorted(self._counts.items())
            since = self._since
        return {
            "since": since,
            "requests": {
                "total": sum(n for _, n in counts),
                "byRoute": [{"method": m, "route": r, "status": s, "count": n} for (m, r, s), n in counts],
            },
            "connections": self.tracker.snapshot(),
        }


class MetricsMiddleware:
    """Outermost ASGI layer: tags the route template, counts requests and connection reuse."""

    def __init__(self, app: ASGIApp, metrics: RequestMetrics, routes: RouteTable) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        admin = is_admin_path(scope["path"])
        template = self.routes.resolve(scope["method"], scope["path"])
        scope.setdefault("extensions", {})[TEMPLATE_KEY] = template
        self.metrics.tracker.request(connection_of(scope), admin=admin)
        if admin:
            await self.app(scope, receive, send)
            return
        status = 0

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self.metrics.record(scope["method"], template, status)

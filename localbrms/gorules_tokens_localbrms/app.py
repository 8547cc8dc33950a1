"""Application factory: FastAPI routes wrapped by the fault and metrics layers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from gorules_tokens_localbrms import __version__
from gorules_tokens_localbrms.auth import Authenticator
from gorules_tokens_localbrms.connections import ConnectionTracker
from gorules_tokens_localbrms.deploy_modes import DeployModeSwitch
from gorules_tokens_localbrms.engine import DecisionEngine
from gorules_tokens_localbrms.errors import install_error_handlers
from gorules_tokens_localbrms.faults import FaultMiddleware, FaultRegistry
from gorules_tokens_localbrms.metrics import MetricsMiddleware, RequestMetrics
from gorules_tokens_localbrms.repo import pats
from gorules_tokens_localbrms.routes import admin, environments, evaluate, health, personal_access_tokens, projects, releases
from gorules_tokens_localbrms.routing import RouteTable
from gorules_tokens_localbrms.store import Store


@dataclass
class LocalBRMSApp:
    """The ASGI callable uvicorn serves, plus handles on its parts (for tests and the server)."""

    api: FastAPI
    store: Store
    metrics: RequestMetrics
    faults: FaultRegistry
    tracker: ConnectionTracker
    asgi: MetricsMiddleware

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.asgi(scope, receive, send)


def create_app(db_path: Path | str, admin_pat: str, tracker: ConnectionTracker | None = None) -> LocalBRMSApp:
    """Build the service on ``db_path``; ``admin_pat`` is the all-permissions admin token."""
    if len(admin_pat) < 8:
        raise ValueError("the admin PAT must be at least 8 characters")
    store = Store(db_path)
    tracker = tracker or ConnectionTracker()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        store.close()

    api = FastAPI(
        title="localbrms",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    api.state.store = store
    with store.write() as conn:
        admin_row = pats.register_admin(conn, admin_pat)
    api.state.auth = Authenticator(store, admin_pat, admin_row["id"])
    api.state.engine = DecisionEngine()
    api.state.organisation_id = store.organisation_id()
    api.state.metrics = metrics = RequestMetrics(tracker)
    api.state.faults = faults = FaultRegistry()
    api.state.deploy_modes = DeployModeSwitch()
    install_error_handlers(api)
    modules = (health, projects, environments, releases, evaluate, personal_access_tokens, admin)
    for module in modules:
        api.include_router(module.router)
    table = RouteTable(route for module in modules for route in module.router.routes)

    asgi = MetricsMiddleware(FaultMiddleware(api, faults), metrics, table)
    return LocalBRMSApp(api, store, metrics, faults, tracker, asgi)

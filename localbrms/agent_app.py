"""The Agent listener: GoRules Agent routes and error bodies on their own port.

Routes, as the Agent serves them (``{project}`` is the project key, i.e. the storage key, or
the project id from the artifact's config; ``{key}`` is the decision path):

* legacy ``POST /api/projects/{project}/evaluate/{key}``: errors ``{"message": ...}``;
  the answer adds ``details: {releaseId, versionId}``;
* Rules API ``POST /api/rules/{project}/evaluate/{key}``: errors ``{code, details?, key?}``;
  the answer adds ``meta`` and the ``X-Release-Id`` header.

Both look the project up first (404), then check the token (401), then evaluate (400 on
failure). Nothing here reads BRMS state: only what :class:`AgentState` loaded at its last poll.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from localbrms import __version__
from localbrms.agent import AgentState, LoadedProject
from localbrms.errors import BRMSError
from localbrms.repo import releases
from localbrms.schemas import EvaluateRequest

LEGACY_INVALID_TOKEN = "Invalid X-Access-Token Header"
LEGACY_PROJECT_NOT_FOUND = "Project not found"
RULES_UNAUTHORIZED = "unauthorized"
RULES_PROJECT_NOT_FOUND = "project.notFound"
STATUS_PATH = "/_localbrms/agent"


class AgentError(Exception):
    """An Agent answer other than 200, with the body of its route family."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


def _legacy(status: int, message: str) -> AgentError:
    return AgentError(status, {"message": message})


def _rules(status: int, code: str, **extra: Any) -> AgentError:
    return AgentError(status, {"code": code, **extra})


def create_agent_app(state: AgentState, admin_pat: str) -> FastAPI:
    """The Agent's ASGI app over ``state`` (whose poller runs while the app is up)."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        state.start()
        yield
        state.stop()

    app = FastAPI(title="localbrms-agent", version=__version__, docs_url=None, redoc_url=None,
                  openapi_url=None, lifespan=lifespan)

    @app.exception_handler(AgentError)
    async def _agent_error(_: Request, exc: AgentError) -> JSONResponse:
        return JSONResponse(exc.body, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _bad_body(_: Request, exc: RequestValidationError) -> PlainTextResponse:
        # The Agent's JSON extractor rejects a body it cannot deserialise with 422, in plain text.
        return PlainTextResponse("Failed to deserialize the JSON body into the target type", status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> Response:
        return Response(status_code=exc.status_code)  # unknown route: empty body, as the Agent

    def lookup(project: str, token: str | None, *, rules: bool) -> LoadedProject:
        loaded = state.project(project)
        if loaded is None:
            raise _rules(404, RULES_PROJECT_NOT_FOUND) if rules else _legacy(404, LEGACY_PROJECT_NOT_FOUND)
        if not loaded.can_access(token):
            raise _rules(401, RULES_UNAUTHORIZED) if rules else _legacy(401, LEGACY_INVALID_TOKEN)
        return loaded

    def run(loaded: LoadedProject, key: str, body: EvaluateRequest, *, rules: bool) -> dict[str, Any]:
        conn = state.store.conn()
        doc = releases.document(conn, loaded.release_id, key.lower())
        if doc is None:
            if rules:
                raise _rules(400, "documents.invalid", details="File not found", key=key.lower())
            raise _legacy(400, f"Loader error: decision '{key.lower()}' not found")

        def load() -> dict[str, dict[str, Any]]:
            rows = conn.execute(
                "SELECT key, content FROM release_documents WHERE release_id = ?", (loaded.release_id,)
            ).fetchall()
            return {r["key"]: json.loads(r["content"]) for r in rows}

        try:
            return state.engine.evaluate(loaded.release_id, load, doc["key"], body.context, body.trace)
        except BRMSError as exc:
            detail = exc.message.removeprefix("evaluate.failed: ")
            raise _rules(400, "evaluate.failed", details=detail) if rules else _legacy(400, detail) from None

    @app.post("/api/projects/{project}/evaluate/{key:path}")
    def evaluate(
        project: str, key: str, body: EvaluateRequest,
        x_access_token: Annotated[str | None, Header()] = None,
    ) -> dict[str, Any]:
        loaded = lookup(project, x_access_token, rules=False)
        result = run(loaded, key, body, rules=False)
        return {**result, "details": {"releaseId": loaded.release_id, "versionId": None}}

    @app.post("/api/rules/{project}/evaluate/{key:path}")
    def rules_evaluate(
        response: Response, project: str, key: str, body: EvaluateRequest,
        x_access_token: Annotated[str | None, Header()] = None,
    ) -> dict[str, Any]:
        loaded = lookup(project, x_access_token, rules=True)
        result = run(loaded, key, body, rules=True)
        response.headers["X-Release-Id"] = loaded.release_id
        config = loaded.config
        meta = {
            "type": "environment",
            "path": key,
            "project": config.get("project"),
            "release": config.get("release"),
            "environment": config.get("environment"),
        }
        return {**result, "meta": meta}

    @app.get("/api/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(STATUS_PATH)
    def agent_status(authorization: Annotated[str | None, Header()] = None) -> dict[str, Any]:
        """localbrms only (admin PAT): poll counters, so tests wait for a poll instead of sleeping."""
        given = (authorization or "").removeprefix("Bearer ").encode()
        if not hmac.compare_digest(given, admin_pat.encode()):
            raise _legacy(403, "Admin personal access token required")
        return state.status()

    @app.post(STATUS_PATH + "/hold")
    def agent_hold(body: dict[str, Any], authorization: Annotated[str | None, Header()] = None) -> dict[str, Any]:
        """localbrms only (admin PAT): ``{"held": true}`` stops scheduled polls (after the one in
        progress), so a test can observe what the Agent serves before its next poll without
        racing it; ``{"held": false}`` resumes them."""
        given = (authorization or "").removeprefix("Bearer ").encode()
        if not hmac.compare_digest(given, admin_pat.encode()):
            raise _legacy(403, "Admin personal access token required")
        if not isinstance(body.get("held"), bool):
            raise _legacy(400, "held must be true or false")
        state.hold(body["held"])
        return state.status()

    return app

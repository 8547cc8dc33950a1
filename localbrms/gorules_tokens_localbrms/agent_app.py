"""The Agent listener: GoRules Agent routes and error bodies on their own port.

Routes, as the Agent serves them (``src/routes/*.rs``, v1.26.0; ``{project}`` is the object key
as stored or the project id from the zip's ``.config/project.json``; ``{key}`` is the
decision's path inside the zip, lower-cased, with no extension added or removed):

* ``POST /api/projects/{project}/evaluate/{key}``: the project is looked up first (404
  ``{"message":"Project not found"}``), then the token (401 ``{"message":"Invalid
  X-Access-Token Header"}``), then the decision is evaluated; a missing decision or an
  evaluation error is 400 ``{"message": <the engine error's name>}`` (``Loader error``,
  ``Node error``...); the answer adds ``details: {releaseId, versionId}``;
* ``GET /api/projects/{project}``: release facts, no token check; 404 / 400 in plain text;
* ``GET /api/projects/{project}/entrypoints``: the decision paths; 404 / 401 in plain text;
* ``GET /api/health`` (``healthy``) and ``GET /api/version``, plain text;
* the Rules API ``POST /api/rules/{project}/evaluate/{key}`` (errors ``{code, details?,
  key?}``, answer adds ``meta`` and ``X-Release-Id``) is kept from an earlier reading; the
  v1.26.0 source has no such route (see docs/AGENT-STORAGE.md).

Nothing here reads BRMS state: only what :class:`AgentState` loaded at its last poll.
"""

from __future__ import annotations

import hmac
import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from gorules_tokens_localbrms import __version__
from gorules_tokens_localbrms.agent import AgentState, LoadedProject
from gorules_tokens_localbrms.errors import BRMSError
from gorules_tokens_localbrms.schemas import EvaluateRequest

LEGACY_INVALID_TOKEN = "Invalid X-Access-Token Header"
LEGACY_PROJECT_NOT_FOUND = "Project not found"
RULES_UNAUTHORIZED = "unauthorized"
RULES_PROJECT_NOT_FOUND = "project.notFound"
STATUS_PATH = "/_localbrms/agent"
LOADER_ERROR = "Loader error"
# The engine's error kinds and the names the Agent's 400 body gives them.
ENGINE_ERROR_NAMES = {
    "LoaderError": LOADER_ERROR,
    "NodeError": "Node error",
    "DepthLimitExceeded": "Depth limit exceeded",
    "InvalidGraph": "Invalid graph",
    "Validation": "Validation failed",
}


class AgentError(Exception):
    """An Agent answer other than 200, with the body of its route family."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


class TextError(Exception):
    """An Agent answer in plain text (its project-info and entrypoints routes)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(status)
        self.status = status
        self.message = message


def _engine_error_name(detail: str) -> str:
    """zen reports ``{"type": "NodeError", ...}``; the Agent answers with that kind's name."""
    found = re.search(r'"type"\s*:\s*"(\w+)"', detail)
    return ENGINE_ERROR_NAMES.get(found.group(1) if found else "", "Node error")


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

    @app.exception_handler(TextError)
    async def _text_error(_: Request, exc: TextError) -> PlainTextResponse:
        return PlainTextResponse(exc.message, status_code=exc.status)

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
        path = key.lower()  # the Agent's loader lower-cases the path, and nothing else
        decisions = loaded.archive.decisions
        if path not in decisions:
            if rules:
                raise _rules(400, "documents.invalid", details="File not found", key=path)
            raise _legacy(400, LOADER_ERROR)
        try:
            return state.engine.evaluate(
                f"{loaded.key}@{loaded.revision}", lambda: dict(decisions), path, body.context, body.trace
            )
        except BRMSError as exc:
            detail = exc.message.removeprefix("evaluate.failed: ")
            if rules:
                raise _rules(400, "evaluate.failed", details=detail) from None
            raise _legacy(400, _engine_error_name(detail)) from None

    def project_or_404_text(project: str) -> LoadedProject:
        loaded = state.project(project)
        if loaded is None:
            raise TextError(404, LEGACY_PROJECT_NOT_FOUND)
        return loaded

    @app.post("/api/projects/{project}/evaluate/{key:path}")
    def evaluate(
        project: str, key: str, body: EvaluateRequest,
        x_access_token: Annotated[str | None, Header()] = None,
    ) -> dict[str, Any]:
        loaded = lookup(project, x_access_token, rules=False)
        result = run(loaded, key, body, rules=False)
        meta = (loaded.archive.decisions.get(key) or {}).get("meta")  # exact path, as the Agent does
        version_id = meta.get("versionId") if isinstance(meta, dict) else None
        return {**result, "details": {"releaseId": loaded.release_id, "versionId": version_id}}

    @app.get("/api/projects/{project}")
    def project_info(project: str) -> dict[str, Any]:
        """Release facts of a loaded project; the Agent checks no token here."""
        data = project_or_404_text(project).archive.release_data
        if data is None:
            raise TextError(400, "Project data not available")
        return {"project_id": data.project_id, "project_key": data.project_key,
                "release_id": data.release_id, "release_version": data.release_version}

    @app.get("/api/projects/{project}/entrypoints")
    def entrypoints(project: str, x_access_token: Annotated[str | None, Header()] = None) -> dict[str, Any]:
        loaded = project_or_404_text(project)
        if not loaded.can_access(x_access_token):
            raise TextError(401, LEGACY_INVALID_TOKEN)
        return {"entrypoints": [{"path": path, "type": "graph"} for path in loaded.archive.decisions]}

    @app.post("/api/rules/{project}/evaluate/{key:path}")
    def rules_evaluate(
        response: Response, project: str, key: str, body: EvaluateRequest,
        x_access_token: Annotated[str | None, Header()] = None,
    ) -> dict[str, Any]:
        loaded = lookup(project, x_access_token, rules=True)
        result = run(loaded, key, body, rules=True)
        response.headers["X-Release-Id"] = loaded.release_id or ""
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
    def health() -> PlainTextResponse:
        return PlainTextResponse("healthy")

    @app.get("/api/version")
    def version() -> PlainTextResponse:
        return PlainTextResponse(os.environ.get("SERVICE_VERSION", "unknown"))

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

"""Decision evaluation with an environment access token (``X-Access-Token``).

Two routes: the BRMS environment route and the newer Rules route. Both check the
environment's *current* token. Agents (``deployment`` environments) are served by a separate
listener, :mod:`gorules_tokens_localbrms.agent`, which checks the tokens of the artifact it last loaded.
"""

from __future__ import annotations

import hmac
import json
import sqlite3
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response

from gorules_tokens_localbrms.errors import BRMSError, not_found
from gorules_tokens_localbrms.repo import environments, projects, releases
from gorules_tokens_localbrms.routes.common import engine, store
from gorules_tokens_localbrms.schemas import EvaluateRequest
from gorules_tokens_localbrms.store import Store

router = APIRouter()
INVALID_TOKEN = "projectAccessToken.invalid"  # the error key BRMS is seen to use


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def _loader(st: Store, release_id: str) -> Any:
    def load() -> dict[str, dict[str, Any]]:
        rows = (
            st.conn()
            .execute("SELECT key, content FROM release_documents WHERE release_id = ?", (release_id,))
            .fetchall()
        )
        return {r["key"]: json.loads(r["content"]) for r in rows}

    return load


def _resolve_brms(
    conn: sqlite3.Connection, token: str | None, project_ref: str, env_ref: str
) -> tuple[sqlite3.Row, sqlite3.Row]:
    """Guard first (any live token, else 401), then 404s, then the token must be this env's."""
    if not token or environments.find_live_by_token(conn, token) is None:
        raise BRMSError(401, INVALID_TOKEN)
    project = projects.get_by_ref(conn, project_ref)
    if project is None:
        raise not_found("Project")
    env = environments.get_by_ref(conn, project["id"], env_ref)
    if env is None:
        raise not_found("Environment")
    if not _same(env["access_token"], token):
        raise BRMSError(401, INVALID_TOKEN)
    return project, env


def _evaluate(request: Request, release_id: str | None, key: str, body: EvaluateRequest) -> dict[str, Any]:
    st = store(request)
    if release_id is None:
        raise not_found("Release deployed to environment")
    doc = releases.document(st.conn(), release_id, key)
    if doc is None:
        raise not_found("Decision")
    return engine(request).evaluate(release_id, _loader(st, release_id), doc["key"], body.context, body.trace)


def brms_environment(
    request: Request,
    projectId: str,
    environmentId: str,
    x_access_token: Annotated[str | None, Header()] = None,
) -> tuple[sqlite3.Row, sqlite3.Row]:
    """Dependency, so the token is checked (401) before the body is validated (400)."""
    with store(request).read() as conn:
        return _resolve_brms(conn, x_access_token, projectId, environmentId)


BrmsEnv = Annotated[tuple[sqlite3.Row, sqlite3.Row], Depends(brms_environment)]


@router.post("/api/projects/{projectId}/environments/{environmentId}/evaluate/{key:path}")
def evaluate_environment(
    request: Request, response: Response, key: str, body: EvaluateRequest, resolved: BrmsEnv
) -> dict[str, Any]:
    _, env = resolved
    result = _evaluate(request, env["release_id"], key, body)
    response.headers["X-Release-Id"] = env["release_id"]
    return result


@router.post("/api/rules/{projectId}/env/{environmentId}/evaluate/{key:path}")
def evaluate_rule(
    request: Request, response: Response, key: str, body: EvaluateRequest, resolved: BrmsEnv
) -> dict[str, Any]:
    project, env = resolved
    result = _evaluate(request, env["release_id"], key, body)
    response.headers["X-Release-Id"] = env["release_id"]
    meta = {
        "projectId": project["id"],
        "environmentId": env["id"],
        "releaseId": env["release_id"],
        "key": key,
    }
    return {**result, "meta": meta}

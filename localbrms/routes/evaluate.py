"""Decision evaluation with an environment access token (``X-Access-Token``).

Three routes: the BRMS environment route, the newer Rules route, and the Agent model for
``deployment`` environments. BRMS routes check the environment's *current* token; the
Agent checks the token list snapshotted when a release was last deployed (as the real
Agent reads ``accessTokens`` from the deployed artifact), so after a regenerate it keeps
accepting the old token and rejects the new one until the next deploy.
"""

from __future__ import annotations

import hmac
import json
import sqlite3
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response

from localbrms.errors import BRMSError, not_found
from localbrms.repo import environments, projects, releases
from localbrms.routes.common import engine, store
from localbrms.schemas import EvaluateRequest
from localbrms.store import Store

router = APIRouter()
INVALID_TOKEN = "projectAccessToken.invalid"  # the error key BRMS is seen to use
AGENT_INVALID_TOKEN = "Invalid X-Access-Token Header"  # the real Agent's message


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


def agent_environment(
    request: Request,
    environmentId: str,
    projectId: str,
    x_access_token: Annotated[str | None, Header()] = None,
) -> sqlite3.Row:
    """The artifact last deployed to a ``deployment`` environment, guarded like the Agent."""
    with store(request).read() as conn:
        env = environments.get_any(conn, environmentId.lower())
        project = projects.get_by_ref(conn, projectId)
    if (
        env is None
        or env["agent_release_id"] is None
        or project is None
        or project["id"] != env["project_id"]
    ):
        raise BRMSError(404, "Project not found")
    accepted = environments.agent_tokens(env)
    if accepted and not (x_access_token and any(_same(t, x_access_token) for t in accepted)):
        raise BRMSError(401, AGENT_INVALID_TOKEN)
    return env


BrmsEnv = Annotated[tuple[sqlite3.Row, sqlite3.Row], Depends(brms_environment)]
AgentEnv = Annotated[sqlite3.Row, Depends(agent_environment)]


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


@router.post("/agent/{environmentId}/api/projects/{projectId}/evaluate/{key:path}")
def evaluate_agent(
    request: Request, response: Response, key: str, body: EvaluateRequest, env: AgentEnv
) -> dict[str, Any]:
    result = _evaluate(request, env["agent_release_id"], key, body)
    response.headers["X-Release-Id"] = env["agent_release_id"]
    return result

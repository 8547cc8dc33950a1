"""Small helpers shared by route modules (state access, lookups that 404)."""

from __future__ import annotations

import sqlite3

from fastapi import Request

from gorules_tokens_localbrms.auth import Principal
from gorules_tokens_localbrms.deploy_modes import DeployMode
from gorules_tokens_localbrms.engine import DecisionEngine
from gorules_tokens_localbrms.errors import not_found
from gorules_tokens_localbrms.repo import environments, projects
from gorules_tokens_localbrms.store import Store


def store(request: Request) -> Store:
    return request.app.state.store  # type: ignore[no-any-return]


def engine(request: Request) -> DecisionEngine:
    return request.app.state.engine  # type: ignore[no-any-return]


def deploy_mode(request: Request) -> DeployMode:
    return request.app.state.deploy_modes.get()  # type: ignore[no-any-return]


def organisation_id(request: Request) -> str:
    return request.app.state.organisation_id  # type: ignore[no-any-return]


def project_or_404(conn: sqlite3.Connection, principal: Principal, project_id: str) -> sqlite3.Row:
    """Scope check first (403) so a scoped PAT learns nothing about other projects."""
    principal.check_project(project_id)
    row = projects.get(conn, project_id)
    if row is None:
        raise not_found("Project")
    return row


def environment_or_404(conn: sqlite3.Connection, project_id: str, env_id: str) -> sqlite3.Row:
    row = environments.get(conn, project_id, env_id)
    if row is None:
        raise not_found("Environment")
    return row


def paginate(total: int, page: int, per_page: int) -> dict[str, int]:
    """The ``paginate`` object of BRMS list answers (1-based, inclusive from/to)."""
    start = (page - 1) * per_page
    shown = max(0, min(per_page, total - start))
    return {
        "current": page,
        "from": start + 1 if shown else 0,
        "to": start + shown,
        "total": total,
        "pageSize": per_page,
    }

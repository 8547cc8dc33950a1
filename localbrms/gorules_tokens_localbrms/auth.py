"""Personal-access-token authentication and the permission model.

``Authorization: Bearer <PAT>``. The server's ``--pat`` is the admin token: it holds every
permission and is the only token accepted on ``/_localbrms/*``. Other PATs live (hashed)
in SQLite with a set of permissions and an optional project scope.
Missing/unknown PAT -> 401; known PAT lacking the permission or the project -> 403. A PAT
past its ``expires_at`` (the admin PAT's included, see ``repo.pats``) -> 401 on ``/api/*``;
``/_localbrms/*`` keeps answering the admin PAT, so a test can expire it and set it back.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from fastapi import Request

from gorules_tokens_localbrms.errors import BRMSError
from gorules_tokens_localbrms.permissions import IMPLIES, PERMISSIONS
from gorules_tokens_localbrms.repo import pats
from gorules_tokens_localbrms.routing import is_admin_path
from gorules_tokens_localbrms.store import Store


@dataclass(frozen=True)
class Principal:
    """Who is calling and what they may do."""

    pat_id: str
    permissions: frozenset[str]
    projects: frozenset[str] | None  # None: every project
    is_admin: bool = False

    def allows(self, permission: str) -> bool:
        if self.is_admin or "owner" in self.permissions or permission in self.permissions:
            return True
        return any(permission in IMPLIES.get(p, ()) for p in self.permissions)

    def check_project(self, project_id: str) -> None:
        """403 when the PAT is scoped to other projects."""
        if self.projects is not None and project_id not in self.projects:
            raise BRMSError(403, "Personal access token is not permitted for this project")


class Authenticator:
    """Resolves the bearer token of a request to a :class:`Principal`."""

    def __init__(self, store: Store, admin_pat: str, admin_pat_id: str = "admin") -> None:
        self._store = store
        self._admin_pat = admin_pat
        self.admin_pat_id = admin_pat_id

    def authenticate(self, request: Request) -> Principal:
        token = _bearer(request)
        if token is None:
            raise BRMSError(401, "Unauthorized")
        api = not is_admin_path(request.url.path)
        if hmac.compare_digest(token.encode(), self._admin_pat.encode()):
            if api:
                _refuse_expired(pats.get(self._store.conn(), self.admin_pat_id))
            return Principal(self.admin_pat_id, PERMISSIONS, None, is_admin=True)
        row = pats.find(self._store.conn(), token)
        if row is None:
            raise BRMSError(401, "Invalid personal access token")
        if api:
            _refuse_expired(row)
        projects = json.loads(row["projects"]) if row["projects"] is not None else None
        return Principal(
            row["id"],
            frozenset(json.loads(row["permissions"])),
            frozenset(projects) if projects is not None else None,
        )


def expired(expires_at: str | None, now: datetime | None = None) -> bool:
    if not expires_at:
        return False
    moment = datetime.fromisoformat(expires_at.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment <= (now or datetime.now(timezone.utc))


def _refuse_expired(row: object) -> None:
    if row is not None and expired(row["expires_at"]):  # type: ignore[index]
        raise BRMSError(401, "Personal access token has expired")


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


def require(permission: str | None) -> Callable[[Request], Principal]:
    """FastAPI dependency: an authenticated caller holding ``permission`` (None: any PAT)."""

    def dependency(request: Request) -> Principal:
        principal = request.app.state.auth.authenticate(request)
        if permission is not None and not principal.allows(permission):
            raise BRMSError(403, f"Missing permission: {permission}")
        return principal

    return dependency


def require_admin(request: Request) -> Principal:
    """FastAPI dependency for ``/_localbrms/*``: only the server's admin PAT."""
    principal = request.app.state.auth.authenticate(request)
    if not principal.is_admin:
        raise BRMSError(403, "Admin personal access token required")
    return principal

"""``/api/personal-access-tokens``: the caller's PATs and one by id, with ``expiresAt``.

Shape as GoRules documents it (list: a bare array; item: ``id, note, permissions,
allProjects, projects[], user{}, createdAt, updatedAt, expiresAt``, null for a PAT that never
expires). No answer carries the token itself: GoRules shows it once, on creation. Any valid
PAT may read these (GoRules names no permission for them); localbrms has one user, who owns
every PAT (``repo.pats``).
"""

from __future__ import annotations

import json
import sqlite3
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from gorules_tokens_localbrms.auth import Principal, require
from gorules_tokens_localbrms.errors import not_found
from gorules_tokens_localbrms.repo import pats, projects
from gorules_tokens_localbrms.routes.common import organisation_id, store

router = APIRouter()

# The one localbrms user (stable, so answers can be compared across calls).
USER = {
    "id": "00000000-0000-4000-8000-00000000a11c",
    "email": "operator@localbrms.invalid",
    "type": "user",
    "status": "active",
    "createdAt": "2026-01-01T00:00:00.000Z",
    "updatedAt": "2026-01-01T00:00:00.000Z",
    "firstName": "Local",
    "lastName": "Operator",
    "isService": False,
}


def pat_view(conn: sqlite3.Connection, row: sqlite3.Row, org_id: str) -> dict[str, Any]:
    scope = json.loads(row["projects"]) if row["projects"] is not None else None
    listed = [p for p in (projects.get(conn, pid) for pid in scope or []) if p is not None]
    return {
        "id": row["id"],
        "note": row["name"],
        "permissions": json.loads(row["permissions"]),
        "allProjects": scope is None,
        "projects": [
            {"id": p["id"], "name": p["name"], "organisationId": org_id, "version": p["version"],
             "createdAt": p["created_at"], "updatedAt": p["updated_at"], "key": p["key"],
             "protected": bool(p["protected"])}
            for p in listed
        ],
        "user": USER,
        "createdAt": row["created_at"],
        "updatedAt": row["created_at"],
        "expiresAt": row["expires_at"],
    }


@router.get("/api/personal-access-tokens")
def list_tokens(request: Request, _: Annotated[Principal, Depends(require(None))]) -> list[dict[str, Any]]:
    conn = store(request).conn()
    return [pat_view(conn, row, organisation_id(request)) for row in pats.list_all(conn)]


@router.get("/api/personal-access-tokens/{patId}")
def get_token(request: Request, patId: str, _: Annotated[Principal, Depends(require(None))]) -> dict[str, Any]:
    conn = store(request).conn()
    row = pats.get(conn, patId)
    if row is None:
        raise not_found("Personal access token")
    return pat_view(conn, row, organisation_id(request))

"""``/api/projects``: list (paginated), create, get one."""

from __future__ import annotations

import sqlite3
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request

from gorules_tokens_localbrms import views
from gorules_tokens_localbrms.auth import Principal, require
from gorules_tokens_localbrms.errors import BRMSError, bad_request
from gorules_tokens_localbrms.repo import projects
from gorules_tokens_localbrms.routes.common import organisation_id, paginate, project_or_404, store
from gorules_tokens_localbrms.schemas import ProjectCreate

router = APIRouter()
TRUE = {"true", "True", "TRUE"}
FALSE = {"false", "False", "FALSE"}


def _flag(name: str, value: str | None) -> bool:
    if value is None or value in FALSE:
        return False
    if value in TRUE:
        return True
    raise bad_request(f"query.{name}: expected true or false")


@router.get("/api/projects")
def list_projects(
    request: Request,
    principal: Annotated[Principal, Depends(require(None))],
    page: Annotated[int, Query(ge=1)] = 1,
    per_page: Annotated[int, Query(alias="perPage", ge=1, le=1000)] = 10,
    search: Annotated[str | None, Query(max_length=200)] = None,
    all_: Annotated[str | None, Query(alias="all")] = None,
    deleted: Annotated[str | None, Query()] = None,
) -> dict[str, Any]:
    _flag("all", all_)
    with store(request).read() as conn:
        rows, total = projects.page(
            conn,
            offset=(page - 1) * per_page,
            limit=per_page,
            search=search,
            only_ids=principal.projects,
            deleted=_flag("deleted", deleted),
        )
    org = organisation_id(request)
    return {"results": [views.project(r, org) for r in rows], "paginate": paginate(total, page, per_page)}


@router.post("/api/projects", status_code=201)
def create_project(
    request: Request,
    body: ProjectCreate,
    _: Annotated[Principal, Depends(require("project:manage"))],
) -> dict[str, Any]:
    with store(request).write() as conn:
        if projects.get_by_key(conn, body.key) is not None:
            raise BRMSError(409, "Project key already exists")
        source = None
        if body.copy_content_ref is not None:
            source = projects.get(conn, str(body.copy_content_ref))
            if source is None:
                raise bad_request("copyContentRef: project not found")
        try:
            row = projects.create(conn, name=body.name, key=body.key, protected=body.protected)
        except sqlite3.IntegrityError:
            raise BRMSError(409, "Project key already exists") from None
        if source is not None:
            projects.copy_documents(conn, source["id"], row["id"])
    return views.project(row, organisation_id(request))


@router.get("/api/projects/{projectId}")
def get_project(
    request: Request,
    projectId: UUID,
    principal: Annotated[Principal, Depends(require(None))],
) -> dict[str, Any]:
    with store(request).read() as conn:
        row = project_or_404(conn, principal, str(projectId))
    return views.project(row, organisation_id(request))

"""Releases: list, create (snapshot current decisions) and deploy to an environment.

Deploying to an environment whose ``approvalMode`` requires review (anything but ``none``
or null) does not deploy: it opens a change request and answers with it. The deploy mode
(:mod:`gorules_tokens_localbrms.deploy_modes`) can change the answer, and whether anything happens.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from gorules_tokens_localbrms import deploy_modes, views
from gorules_tokens_localbrms.auth import Principal, require
from gorules_tokens_localbrms.errors import not_found
from gorules_tokens_localbrms.ids import now_iso
from gorules_tokens_localbrms.repo import environments, releases
from gorules_tokens_localbrms.routes.common import deploy_mode, environment_or_404, paginate, project_or_404, store
from gorules_tokens_localbrms.schemas import DeployRequest, ReleaseCreate

router = APIRouter()
BASE = "/api/projects/{projectId}/releases"


def deployed_answer(env: Any, release_id: str, comment: str | None) -> dict[str, Any]:
    """What a direct deploy returns (shape is our inference; see README)."""
    return {
        "status": "deployed",
        "projectId": env["project_id"],
        "environmentId": env["id"],
        "releaseId": release_id,
        "comment": comment,
        "deployedAt": now_iso(),
    }


@router.get(BASE)
def list_releases(
    request: Request,
    projectId: UUID,
    principal: Annotated[Principal, Depends(require("releases"))],
    page: Annotated[int, Query(ge=1)] = 1,
    per_page: Annotated[int, Query(alias="perPage", ge=1, le=1000)] = 10,
) -> dict[str, Any]:
    with store(request).read() as conn:
        project_or_404(conn, principal, str(projectId))
        rows, total = releases.page(conn, str(projectId), offset=(page - 1) * per_page, limit=per_page)
    return {"results": [views.release_detail(r) for r in rows], "paginate": paginate(total, page, per_page)}


@router.post(BASE, status_code=201)
def create_release(
    request: Request,
    projectId: UUID,
    body: ReleaseCreate,
    principal: Annotated[Principal, Depends(require("releases:manage"))],
) -> dict[str, Any]:
    with store(request).write() as conn:
        project_or_404(conn, principal, str(projectId))
        row = releases.create(conn, str(projectId), name=body.name, description=body.description)
    return views.release_detail(row)


@router.post(BASE + "/deploy", response_model=None)
def deploy_release(
    request: Request,
    projectId: UUID,
    body: DeployRequest,
    principal: Annotated[Principal, Depends(require("releases:deploy"))],
) -> Response:
    """Deploy, or open a change request; the answer's shape follows the deploy mode."""
    mode = deploy_mode(request)
    project_id = str(projectId)
    release_id = str(body.release_id)
    with store(request).write() as conn:
        project_or_404(conn, principal, project_id)
        env = environment_or_404(conn, project_id, str(body.environment_id))
        release = releases.get(conn, release_id)
        if release is None or release["project_id"] != project_id:
            raise not_found("Release")
        current: dict[str, Any] | None = None
        if mode.applies and (mode.forces_change_request or env["approval_mode"] not in (None, "none")):
            current = views.change_request(environments.create_change_request(conn, env, release_id, body.comment))
        elif mode.applies:
            env = environments.deploy(conn, env, release_id)
            current = deployed_answer(env, release_id, body.comment)
    return deploy_modes.answer(mode, current)

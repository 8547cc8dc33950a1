"""``/api/projects/{projectId}/environments``: list, create, update, delete, regenerate-token."""

from __future__ import annotations

import re
import sqlite3
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Request

from gorules_tokens_localbrms import views
from gorules_tokens_localbrms.auth import Principal, require
from gorules_tokens_localbrms.errors import BRMSError, bad_request
from gorules_tokens_localbrms.repo import deployments, environments
from gorules_tokens_localbrms.routes.common import environment_or_404, organisation_id, project_or_404, store
from gorules_tokens_localbrms.schemas import EnvironmentCreate, EnvironmentUpdate

router = APIRouter()
BASE = "/api/projects/{projectId}/environments"
ProjectId = UUID
EnvironmentId = UUID


def _slug(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug or "environment"


def _check_deployment(conn: sqlite3.Connection, deployment_id: UUID | None) -> str | None:
    if deployment_id is None:
        return None
    if deployments.get(conn, str(deployment_id)) is None:
        raise bad_request("deploymentId: deployment not found")
    return str(deployment_id)


@router.get(BASE)
def list_environments(
    request: Request,
    projectId: ProjectId,
    principal: Annotated[Principal, Depends(require("environments"))],
) -> list[dict[str, Any]]:
    org = organisation_id(request)
    with store(request).read() as conn:
        project_or_404(conn, principal, str(projectId))
        return [views.environment_full(conn, e, org) for e in environments.list_live(conn, str(projectId))]


@router.post(BASE, status_code=201)
def create_environment(
    request: Request,
    projectId: ProjectId,
    body: EnvironmentCreate,
    principal: Annotated[Principal, Depends(require("environments:manage"))],
) -> dict[str, Any]:
    project_id = str(projectId)
    with store(request).write() as conn:
        project_or_404(conn, principal, project_id)
        key = body.key or _slug(body.name)
        if environments.key_taken(conn, project_id, key):
            raise BRMSError(409, "Environment key already exists in this project")
        row = environments.create(
            conn,
            project_id,
            {
                "name": body.name,
                "key": key,
                "type": body.type,
                "approval_mode": body.approval_mode,
                "approval_groups": body.approval_groups,
                "add_to_workflow": body.add_to_workflow,
                "workflow_order": body.workflow_order,
                "deployment_id": _check_deployment(conn, body.deployment_id),
            },
        )
        return views.environment_full(conn, row, organisation_id(request), detail=True)


@router.put(BASE + "/{environmentId}")
def update_environment(
    request: Request,
    projectId: ProjectId,
    environmentId: EnvironmentId,
    body: EnvironmentUpdate,
    principal: Annotated[Principal, Depends(require("environments:manage"))],
) -> dict[str, Any]:
    project_id = str(projectId)
    given = body.model_fields_set
    with store(request).write() as conn:
        project_or_404(conn, principal, project_id)
        env = environment_or_404(conn, project_id, str(environmentId))
        fields: dict[str, Any] = {}
        if "name" in given and body.name is not None:
            fields["name"] = body.name
        if "key" in given and body.key is not None:
            if environments.key_taken(conn, project_id, body.key, except_id=env["id"]):
                raise BRMSError(409, "Environment key already exists in this project")
            fields["key"] = body.key
        if "approval_mode" in given:
            fields["approval_mode"] = body.approval_mode
        if "approval_groups" in given:
            fields["approval_groups"] = body.approval_groups or []
        if "add_to_workflow" in given and body.add_to_workflow is not None:
            fields["add_to_workflow"] = body.add_to_workflow
        if "workflow_order" in given:
            fields["workflow_order"] = body.workflow_order
        if "deployment_id" in given:
            fields["deployment_id"] = _check_deployment(conn, body.deployment_id)
        row = environments.update(conn, env, fields)
        return views.environment_full(conn, row, organisation_id(request), detail=True)


@router.delete(BASE + "/{environmentId}")
def delete_environment(
    request: Request,
    projectId: ProjectId,
    environmentId: EnvironmentId,
    principal: Annotated[Principal, Depends(require("environments:delete"))],
) -> dict[str, str]:
    with store(request).write() as conn:
        project_or_404(conn, principal, str(projectId))
        env = environment_or_404(conn, str(projectId), str(environmentId))
        environments.soft_delete(conn, env)
    return {"id": env["id"]}


@router.post(BASE + "/{environmentId}/regenerate-token")
def regenerate_token(
    request: Request,
    projectId: ProjectId,
    environmentId: EnvironmentId,
    principal: Annotated[Principal, Depends(require("environments:manage"))],
) -> dict[str, Any]:
    with store(request).write() as conn:
        project_or_404(conn, principal, str(projectId))
        env = environment_or_404(conn, str(projectId), str(environmentId))
        row = environments.regenerate_token(conn, env)
    return views.environment_flat(row)

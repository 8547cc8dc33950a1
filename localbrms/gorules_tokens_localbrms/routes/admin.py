"""``/_localbrms/*``: operations for tests and benchmarks (admin PAT only, never faulted).

Metrics, fault rules, the deploy answer mode, PAT creation and expiry, seeding, approving
change requests and pointing a Deployment at an S3 bucket.
"""

from __future__ import annotations

import os
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request

from gorules_tokens_localbrms import __version__
from gorules_tokens_localbrms.auth import require_admin
from gorules_tokens_localbrms.deploy_modes import DeployMode, DeployModeSwitch
from gorules_tokens_localbrms.errors import BRMSError, not_found
from gorules_tokens_localbrms.faults import FaultRegistry, FaultRuleIn
from gorules_tokens_localbrms.metrics import RequestMetrics
from gorules_tokens_localbrms.object_storage import StorageConfigError
from gorules_tokens_localbrms.repo import deployments, environments, pats
from gorules_tokens_localbrms.routes.common import store
from gorules_tokens_localbrms.routes.releases import deployed_answer
from gorules_tokens_localbrms.schemas import DeploymentStorage, PatCreate, PatExpiry, SeedRequest, iso_expiry
from gorules_tokens_localbrms.seed import seed

router = APIRouter(prefix="/_localbrms", dependencies=[Depends(require_admin)])


def _metrics(request: Request) -> RequestMetrics:
    return request.app.state.metrics  # type: ignore[no-any-return]


def _faults(request: Request) -> FaultRegistry:
    return request.app.state.faults  # type: ignore[no-any-return]


def _deploy_modes(request: Request) -> DeployModeSwitch:
    return request.app.state.deploy_modes  # type: ignore[no-any-return]


@router.get("/info")
async def info(request: Request) -> dict[str, Any]:
    return {"version": __version__, "pid": os.getpid(), "db": str(store(request).path),
            "adminPatId": request.app.state.auth.admin_pat_id}


@router.get("/metrics")
async def get_metrics(request: Request) -> dict[str, Any]:
    return _metrics(request).snapshot()


@router.post("/metrics/reset")
async def reset_metrics(request: Request) -> dict[str, bool]:
    _metrics(request).reset()
    return {"reset": True}


@router.get("/faults")
async def list_faults(request: Request) -> list[dict[str, Any]]:
    return [rule.describe() for rule in _faults(request).list()]


@router.post("/faults", status_code=201)
async def add_fault(request: Request, rule: FaultRuleIn) -> dict[str, Any]:
    return _faults(request).add(rule).describe()


@router.delete("/faults")
async def clear_faults(request: Request) -> dict[str, int]:
    return {"cleared": _faults(request).clear()}


@router.delete("/faults/{ruleId}")
async def delete_fault(request: Request, ruleId: str) -> dict[str, str]:
    if not _faults(request).remove(ruleId):
        raise not_found("Fault rule")
    return {"id": ruleId}


@router.get("/deploy-mode")
async def get_deploy_mode(request: Request) -> dict[str, Any]:
    return _deploy_modes(request).get().model_dump()


@router.put("/deploy-mode")
async def set_deploy_mode(request: Request, body: DeployMode) -> dict[str, Any]:
    return _deploy_modes(request).set(body).model_dump()


@router.post("/pats", status_code=201)
def create_pat(request: Request, body: PatCreate) -> dict[str, Any]:
    projects = [str(p) for p in body.projects] if body.projects is not None else None
    with store(request).write() as conn:
        token, row = pats.create(conn, permissions=body.permissions, projects=projects, name=body.name,
                                 expires_at=iso_expiry(body.expires_at))
    return {
        "id": row["id"],
        "token": token,
        "permissions": sorted(set(body.permissions)),
        "projects": projects,
        "expiresAt": row["expires_at"],
    }


@router.put("/pats/{patId}/expiry")
def set_pat_expiry(request: Request, patId: str, body: PatExpiry) -> dict[str, Any]:
    """Seeds a PAT's expiry (the admin PAT's too: its id is in ``/_localbrms/info``)."""
    with store(request).write() as conn:
        row = pats.set_expiry(conn, patId, iso_expiry(body.expires_at))
    if row is None:
        raise not_found("Personal access token")
    return {"id": row["id"], "expiresAt": row["expires_at"]}


@router.post("/seed", status_code=201)
def seed_route(request: Request, body: Annotated[SeedRequest | None, Body()] = None) -> dict[str, Any]:
    return seed(store(request), project_key=body.project_key if body else None)


@router.post("/change-requests/{changeRequestId}/approve")
def approve_change_request(request: Request, changeRequestId: str) -> dict[str, Any]:
    """Stand-in for the reviewers: approving deploys the release the request was for."""
    with store(request).write() as conn:
        cr = environments.get_change_request(conn, changeRequestId)
        if cr is None:
            raise not_found("Change request")
        if cr["status"] != "open":
            raise BRMSError(409, f"Change request is {cr['status']}")
        env = environments.get(conn, cr["project_id"], cr["environment_id"])
        if env is None:
            raise not_found("Environment")
        environments.close_change_request(conn, cr["id"], "approved")
        env = environments.deploy(conn, env, cr["release_id"])
    return {**deployed_answer(env, cr["release_id"], cr["comment"]), "changeRequestId": cr["id"]}


@router.put("/deployments/{name}")
def configure_deployment(request: Request, name: str, body: DeploymentStorage) -> dict[str, Any]:
    """Create or re-point a Deployment; deploys after this write to its storage, and an Agent
    listener serving it reads that storage from its next poll on."""
    with store(request).write() as conn:
        try:
            row = deployments.configure(conn, name, body.provider, body.configuration)
        except StorageConfigError as exc:
            raise BRMSError(400, str(exc)) from None
    return deployments.public_view(row)


@router.get("/deployments/{name}")
def get_deployment(request: Request, name: str) -> dict[str, Any]:
    row = deployments.get_by_name(store(request).conn(), name)
    if row is None:
        raise not_found("Deployment")
    return deployments.public_view(row)

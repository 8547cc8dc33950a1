"""Render rows into the JSON shapes GoRules documents (camelCase, nested objects)."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from gorules_tokens_localbrms.repo import deployments, environments, projects, releases
from gorules_tokens_localbrms.repo.environments import REVIEWING_MODES


def project(row: sqlite3.Row, organisation_id: str) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "organisationId": organisation_id,
        "version": row["version"],
        "createdAt": row["created_at"],
        "updatedAt": row["updated_at"],
        "key": row["key"],
        "protected": bool(row["protected"]),
        "deletedAt": row["deleted_at"],
        "decisionsApprovalMode": row["decisions_approval_mode"],
        "decisionsApprovalGroups": [],
        "members": [],
    }


def release(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "status": row["status"],
        "createdAt": row["created_at"],
        "version": row["version"],
        "semanticVersion": row["semantic_version"],
    }


def release_detail(row: sqlite3.Row) -> dict[str, Any]:
    return {**release(row), "projectId": row["project_id"], "description": row["description"]}


def deployment(row: sqlite3.Row, organisation_id: str) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "provider": row["provider"],
        "organisationId": organisation_id,
        "createdAt": row["created_at"],
        "updatedAt": row["updated_at"],
        "description": row["description"],
        "configuration": deployments.public_view(row)["configuration"],  # never the secret key
        "deletedAt": row["deleted_at"],
    }


def change_request_brief(row: sqlite3.Row) -> dict[str, Any]:
    return {"id": row["id"], "type": row["type"], "status": row["status"], "createdAt": row["created_at"]}


def change_request(row: sqlite3.Row) -> dict[str, Any]:
    """The answer of a deploy that needs approval (shape is our inference; see README)."""
    return {
        **change_request_brief(row),
        "projectId": row["project_id"],
        "environmentId": row["environment_id"],
        "releaseId": row["release_id"],
        "comment": row["comment"],
        "updatedAt": row["updated_at"],
    }


def environment_flat(row: sqlite3.Row) -> dict[str, Any]:
    """Exactly the fields of the regenerate-token response schema."""
    return {
        "id": row["id"],
        "name": row["name"],
        "accessToken": row["access_token"],
        "type": row["type"],
        "key": row["key"],
        "releaseId": row["release_id"],
        "deploymentId": row["deployment_id"],
        "projectId": row["project_id"],
        "addToWorkflow": bool(row["add_to_workflow"]),
        "workflowOrder": row["workflow_order"],
        "requiredReviewers": row["approval_mode"] in REVIEWING_MODES,
        "approvalMode": row["approval_mode"],
        "createdAt": row["created_at"],
        "updatedAt": row["updated_at"],
        "deletedAt": row["deleted_at"],
    }


def environment_full(
    conn: sqlite3.Connection, row: sqlite3.Row, organisation_id: str, *, detail: bool = False
) -> dict[str, Any]:
    """A list item (``detail=False``) or the create/update answer (adds deletedAt, metadata)."""
    proj = projects.get(conn, row["project_id"])
    rel = releases.get(conn, row["release_id"])
    dep = deployments.get(conn, row["deployment_id"])
    groups = json.loads(row["approval_groups"] or "[]")
    body: dict[str, Any] = {
        "id": row["id"],
        "name": row["name"],
        "type": row["type"],
        "projectId": row["project_id"],
        "requiredReviewers": row["approval_mode"] in REVIEWING_MODES,
        "addToWorkflow": bool(row["add_to_workflow"]),
        "approvalGroups": [
            {"id": g, "name": None, "projectId": row["project_id"], "description": None, "roleId": None}
            for g in groups
        ],
        "approvalMode": row["approval_mode"],
        "createdAt": row["created_at"],
        "updatedAt": row["updated_at"],
        "accessToken": row["access_token"],
        "key": row["key"],
        "release": release(rel) if rel is not None else None,
        "releaseId": row["release_id"],
        "deploymentId": row["deployment_id"],
        "deployment": deployment(dep, organisation_id) if dep is not None else None,
        "project": {"id": proj["id"], "name": proj["name"], "key": proj["key"]} if proj is not None else None,
        "reviewers": [],
        "workflowOrder": row["workflow_order"],
        "changeRequests": [
            change_request_brief(cr) for cr in environments.open_change_requests(conn, row["id"])
        ],
    }
    if detail:
        body["deletedAt"] = row["deleted_at"]
        body["metadata"] = {}
    return body

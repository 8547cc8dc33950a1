"""Request bodies as GoRules documents them (camelCase); unknown fields are ignored."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

from gorules_tokens_localbrms.permissions import PERMISSIONS

PROJECT_KEY = r"^[a-z0-9]{2,}(-[a-z0-9]+)*$"  # from the GoRules Terraform provider docs
ENV_KEY = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"  # inference: must be usable in URL paths
ApprovalMode = Literal["require_one_per_team", "none_create_request", "require_any", "none"]


class Body(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class ProjectCreate(Body):
    name: str = Field(min_length=1, max_length=200)
    key: str = Field(pattern=PROJECT_KEY, max_length=100)
    protected: bool = False
    copy_content_ref: UUID | None = Field(default=None, alias="copyContentRef")


class EnvironmentCreate(Body):
    name: str = Field(min_length=1, max_length=200)
    type: Literal["brms", "deployment"]
    key: str | None = Field(default=None, pattern=ENV_KEY)
    deployment_id: UUID | None = Field(default=None, alias="deploymentId")
    approval_mode: ApprovalMode | None = Field(default=None, alias="approvalMode")
    approval_groups: list[str] = Field(default_factory=list, alias="approvalGroups")
    add_to_workflow: bool = Field(default=False, alias="addToWorkflow")
    workflow_order: int | None = Field(default=None, alias="workflowOrder")


class EnvironmentUpdate(Body):
    """PUT body: only the fields that are present are changed; ``type`` is accepted and ignored."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    key: str | None = Field(default=None, pattern=ENV_KEY)
    type: Literal["brms", "deployment"] | None = None
    deployment_id: UUID | None = Field(default=None, alias="deploymentId")
    approval_mode: ApprovalMode | None = Field(default=None, alias="approvalMode")
    approval_groups: list[str] | None = Field(default=None, alias="approvalGroups")
    add_to_workflow: bool | None = Field(default=None, alias="addToWorkflow")
    workflow_order: int | None = Field(default=None, alias="workflowOrder")


class DeployRequest(Body):
    release_id: UUID = Field(alias="releaseId")
    environment_id: UUID = Field(alias="environmentId")
    comment: str | None = Field(default=None, max_length=2000)


class ReleaseCreate(Body):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)


class EvaluateRequest(Body):
    context: dict[str, Any]
    trace: bool = False


def iso_expiry(moment: datetime | None) -> str | None:
    """``expiresAt`` as BRMS (Node) writes timestamps; a naive time is taken as UTC."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class PatExpiry(Body):
    """When a PAT expires (null: never); a time in the past makes it expired at once."""

    expires_at: datetime | None = Field(default=None, alias="expiresAt")


class PatCreate(PatExpiry):
    permissions: list[str] = Field(min_length=1)
    projects: list[UUID] | None = None
    name: str | None = Field(default=None, max_length=200)

    @field_validator("permissions")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - PERMISSIONS)
        if unknown:
            raise ValueError(f"unknown permissions: {', '.join(unknown)}")
        return value


class SeedRequest(Body):
    project_key: str | None = Field(default=None, alias="projectKey", pattern=PROJECT_KEY)


class DeploymentStorage(Body):
    """``PUT /_localbrms/deployments/{name}``: where a Deployment's release zips go.

    ``provider`` ``aws_s3`` with ``configuration`` ``{bucket, path?, endpoint?, region?,
    forcePathStyle?, accessKeyId?, secretAccessKey?}``, or ``localbrms`` (SQLite, the default)."""

    provider: str = Field(min_length=1, max_length=40)
    configuration: dict[str, Any] = Field(default_factory=dict)

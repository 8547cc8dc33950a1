"""Pydantic models of BRMS payloads.

Response models are lenient (unknown fields ignored, optional fields nullable)
because the BRMS docs warn that schemas may be incomplete; only what the
provider truly needs is required. Tokens are ``SecretStr`` so that a stray
``repr`` of a model (e.g. in a traceback) shows ``**********``.

Loaded with the wire client, on the first BRMS call: a preview never imports
pydantic (resource inputs are checked by ``inputs.py``).
"""

from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
)


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)


class _EnvironmentFields(_Lenient):
    """Fields both environment payloads share; only the token's presence differs."""

    id: str
    name: Optional[str] = None
    type: Optional[str] = None
    key: Optional[str] = None
    project_id: Optional[str] = Field(default=None, alias="projectId")
    release_id: Optional[str] = Field(default=None, alias="releaseId")
    deployment_id: Optional[str] = Field(default=None, alias="deploymentId")
    deleted_at: Optional[str] = Field(default=None, alias="deletedAt")


class Environment(_EnvironmentFields):
    """Flat environment returned by ``regenerate-token`` (OpenAPI excerpt)."""

    access_token: SecretStr = Field(alias="accessToken")
    updated_at: Optional[str] = Field(default=None, alias="updatedAt")

    @field_validator("access_token")
    @classmethod
    def _token_not_empty(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value():
            raise ValueError("accessToken is empty")
        return value


class EnvironmentListItem(_EnvironmentFields):
    """One item of ``GET /environments``; the token may be absent or masked."""

    access_token: Optional[SecretStr] = Field(default=None, alias="accessToken")
    release: Optional[dict[str, Any]] = None

    @property
    def token(self) -> Optional[str]:
        """The live token, or None when the list hides it."""
        if self.access_token is None:
            return None
        value = self.access_token.get_secret_value()
        return value or None

    @property
    def effective_release_id(self) -> Optional[str]:
        if self.release_id:
            return self.release_id
        if self.release and isinstance(self.release.get("id"), str):
            return self.release["id"]
        return None


class DeployOutcome(_Lenient):
    """Normalised answer of ``POST /releases/deploy``.

    The BRMS either deploys right away or, for environments that need approvals,
    opens a change request instead; both are successes for the provider.
    """

    kind: Literal["deployed", "change_request"]
    id: Optional[str] = None

    @property
    def status(self) -> str:
        if self.kind == "change_request":
            return f"change_request:{self.id or 'unknown'}"
        return "deployed"


_CR_STATUSES = frozenset({"open", "pending", "requested", "in_review", "awaiting_approval", "draft"})
_DEPLOYED_STATUSES = frozenset({"deployed", "success", "succeeded", "completed", "done"})


def parse_deploy_outcome(body: Any) -> DeployOutcome:
    """Tell a deployment from a change request, across plausible BRMS shapes.

    The BRMS documents only that a deploy "may create a change request"; the
    answer is either wrapped (``changeRequest``/``changeRequestId``) or is the
    change request itself (``{id, type, status: "open", ...}``).
    """
    if not isinstance(body, dict):
        return DeployOutcome(kind="deployed")
    cr = body.get("changeRequest")
    if isinstance(cr, dict):
        return DeployOutcome(kind="change_request", id=_str_or_none(cr.get("id")))
    if isinstance(cr, str) and cr:
        return DeployOutcome(kind="change_request", id=cr)
    if body.get("changeRequestId"):
        return DeployOutcome(kind="change_request", id=_str_or_none(body.get("changeRequestId")))
    kind = str(body.get("kind", "")).lower().replace("-", "_")
    if kind in ("change_request", "changerequest"):
        return DeployOutcome(kind="change_request", id=_str_or_none(body.get("id")))
    status = str(body.get("status", "")).lower()
    if status in _CR_STATUSES:
        return DeployOutcome(kind="change_request", id=_str_or_none(body.get("id")))
    dep = body.get("deployment")
    if isinstance(dep, dict):
        return DeployOutcome(kind="deployed", id=_str_or_none(dep.get("id")))
    return DeployOutcome(kind="deployed", id=_str_or_none(body.get("id")))


def _str_or_none(value: Any) -> Optional[str]:
    return value if isinstance(value, str) and value else None

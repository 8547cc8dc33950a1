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
    """One item of ``GET /environments``; the token may be absent or masked.

    ``approvalMode`` and ``changeRequests`` let a deploy with an unrecognised answer be
    confirmed (``deploys.py``); both are optional, as is everything but ``id``.
    """

    access_token: Optional[SecretStr] = Field(default=None, alias="accessToken")
    release: Optional[dict[str, Any]] = None
    approval_mode: Optional[str] = Field(default=None, alias="approvalMode")
    change_requests: Optional[list[Any]] = Field(default=None, alias="changeRequests")

    @property
    def token(self) -> Optional[str]:
        """The live token, or None when the list hides it."""
        if self.access_token is None:
            return None
        value = self.access_token.get_secret_value()
        return value or None

    def open_change_requests(self) -> list[dict[str, Any]]:
        """Change requests that still wait for review, oldest first."""
        items = [cr for cr in self.change_requests or [] if isinstance(cr, dict) and _str_or_none(cr.get("id"))]
        pending = [cr for cr in items if str(cr.get("status", "open")).lower() in _CR_STATUSES]
        return sorted(pending, key=lambda cr: str(cr.get("createdAt") or ""))

    @property
    def effective_release_id(self) -> Optional[str]:
        if self.release_id:
            return self.release_id
        if self.release and isinstance(self.release.get("id"), str):
            return self.release["id"]
        return None


DeployKind = Literal["deployed", "change_request", "failed", "unrecognised"]


class DeployOutcome(_Lenient):
    """What the answer of ``POST /releases/deploy`` says, as far as it says anything.

    GoRules documents no body for this answer, so a 2xx may carry nothing, plain text or an
    unknown shape: that is ``unrecognised``, not a failure, and the caller confirms the deploy
    from the environment list (``deploys.py``). ``failed`` is only a body that says so.
    """

    kind: DeployKind
    id: Optional[str] = None
    http_status: Optional[int] = None
    detail: str = ""  # why unrecognised, or the failure message; never the body itself
    # The ``redeploy_status`` strings are ``deploys``' vocabulary, spelled only there.


_CR_STATUSES = frozenset({"open", "pending", "requested", "in_review", "awaiting_approval", "draft"})
_DEPLOYED_STATUSES = frozenset({"deployed", "success", "succeeded", "completed", "done"})
_FAILED_STATUSES = frozenset({"failed", "failure", "error", "errored", "rejected", "cancelled", "canceled"})


def parse_deploy_outcome(body: Any, http_status: int = 200) -> DeployOutcome:
    """Classify a 2xx deploy answer: deployed, change request, failure, or unrecognised.

    ``body`` is the decoded JSON, a ``str`` when the answer was not JSON, or None when empty.
    Only shapes that unmistakably say one thing are taken at their word; a change request
    without an id is unrecognised too, so that the environment list supplies the id.
    """
    def outcome(kind: DeployKind, id_: Any = None, detail: str = "") -> DeployOutcome:
        return DeployOutcome(kind=kind, id=_str_or_none(id_), http_status=http_status, detail=detail)

    if body is None or body == "":
        return outcome("unrecognised", detail="empty body")
    if isinstance(body, str):
        return outcome("unrecognised", detail="body is not JSON")
    if not isinstance(body, dict):
        return outcome("unrecognised", detail=f"body is a JSON {type(body).__name__}, not an object")
    status = str(body.get("status", "")).lower()
    if status in _FAILED_STATUSES or body.get("success") is False or (
        isinstance(body.get("error"), str) and "statusCode" in body
    ):
        message = body.get("message") or body.get("error") or status
        return outcome("failed", detail=str(message)[:200])
    cr = body.get("changeRequest")
    if isinstance(cr, dict) and _str_or_none(cr.get("id")):
        return outcome("change_request", cr.get("id"))
    if isinstance(cr, str) and cr:
        return outcome("change_request", cr)
    if _str_or_none(body.get("changeRequestId")):
        return outcome("change_request", body.get("changeRequestId"))
    kind = str(body.get("kind", "")).lower().replace("-", "_")
    if kind in ("change_request", "changerequest") and _str_or_none(body.get("id")):
        return outcome("change_request", body.get("id"))
    if status in _CR_STATUSES and _str_or_none(body.get("id")):
        return outcome("change_request", body.get("id"))
    if status in _DEPLOYED_STATUSES or isinstance(body.get("deployment"), dict):
        return outcome("deployed")
    keys = ", ".join(sorted(str(k) for k in body)[:8]) or "none"
    return outcome("unrecognised", detail=f"unrecognised JSON object (keys: {keys})")


def _str_or_none(value: Any) -> Optional[str]:
    return value if isinstance(value, str) and value else None

"""Pydantic models of BRMS payloads and of the resource inputs.

Response models are lenient (unknown fields ignored, optional fields nullable)
because the BRMS docs warn that schemas may be incomplete; only what the
provider truly needs is required. Tokens are ``SecretStr`` so that a stray
``repr`` of a model (e.g. in a traceback) shows ``**********``.

``TokenInputs`` is the single source of truth for input validation and
defaults; ``check`` maps its errors to the offending field.
"""

from __future__ import annotations

import re
import uuid
from typing import Any, Literal, Optional

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StrictBool,
    StrictStr,
    ValidationError,
    field_validator,
)

from .config import normalize_base_url
from .durations import DurationError, parse_duration
from .errors import ConfigError

_UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)


class Environment(_Lenient):
    """Flat environment returned by ``regenerate-token`` (OpenAPI excerpt)."""

    id: str
    access_token: SecretStr = Field(alias="accessToken")
    name: Optional[str] = None
    type: Optional[str] = None
    key: Optional[str] = None
    project_id: Optional[str] = Field(default=None, alias="projectId")
    release_id: Optional[str] = Field(default=None, alias="releaseId")
    deployment_id: Optional[str] = Field(default=None, alias="deploymentId")
    updated_at: Optional[str] = Field(default=None, alias="updatedAt")
    deleted_at: Optional[str] = Field(default=None, alias="deletedAt")

    @field_validator("access_token")
    @classmethod
    def _token_not_empty(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value():
            raise ValueError("accessToken is empty")
        return value


class EnvironmentListItem(_Lenient):
    """One item of ``GET /environments``; the token may be absent or masked."""

    id: str
    access_token: Optional[SecretStr] = Field(default=None, alias="accessToken")
    name: Optional[str] = None
    type: Optional[str] = None
    key: Optional[str] = None
    project_id: Optional[str] = Field(default=None, alias="projectId")
    release_id: Optional[str] = Field(default=None, alias="releaseId")
    deployment_id: Optional[str] = Field(default=None, alias="deploymentId")
    deleted_at: Optional[str] = Field(default=None, alias="deletedAt")
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


def parse_uuid(value: str) -> str:
    """Canonical lower-case UUID; refuses braces, URNs and surrounding spaces."""
    if not _UUID_RE.fullmatch(value):
        raise ValueError("must be a UUID like 123e4567-e89b-12d3-a456-426614174000 (no whitespace)")
    return str(uuid.UUID(value))


INPUT_FIELDS = (
    "project_id",
    "environment_id",
    "keepers",
    "rotate_after",
    "revoke_on_delete",
    "adopt_existing",
    "redeploy",
    "api_url",
)


# Keepers are plain (non-secret) state stored on every resource and echoed in diffs: a
# bound keeps state small and turns a mistake (a file pasted as a keeper) into a clear error.
MAX_KEEPERS = 32
MAX_KEEPER_NAME = 128
MAX_KEEPER_VALUE = 1024


def check_keepers(value: dict[str, str]) -> dict[str, str]:
    """Raises ValueError when the keepers map breaks a documented bound."""
    if len(value) > MAX_KEEPERS:
        raise ValueError(f"at most {MAX_KEEPERS} keepers are allowed, got {len(value)}")
    for key, item in value.items():
        if not key:
            raise ValueError("keeper names must be non-empty")
        if len(key) > MAX_KEEPER_NAME:
            raise ValueError(f"keeper names must be at most {MAX_KEEPER_NAME} characters")
        if len(item) > MAX_KEEPER_VALUE:
            raise ValueError(f"keeper {key[:40]!r}: values must be at most {MAX_KEEPER_VALUE} characters")
    return value


def check_duration(value: Optional[str]) -> Optional[str]:
    """Raises ValueError (the message pydantic shows) unless ``value`` is None or a duration."""
    if value is not None:
        try:
            parse_duration(value)
        except DurationError as exc:
            raise ValueError(str(exc)) from None
    return value


class TokenInputs(BaseModel):
    """Validated, defaulted inputs of ``EnvironmentToken``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    project_id: StrictStr
    environment_id: StrictStr
    keepers: dict[StrictStr, StrictStr] = Field(default_factory=dict)
    rotate_after: Optional[StrictStr] = None
    revoke_on_delete: StrictBool = False
    adopt_existing: StrictBool = False
    redeploy: StrictBool = True
    api_url: Optional[StrictStr] = None

    @field_validator("project_id", "environment_id")
    @classmethod
    def _uuid(cls, value: str) -> str:
        return parse_uuid(value)

    @field_validator("keepers", mode="before")
    @classmethod
    def _keepers_none(cls, value: Any) -> Any:
        return {} if value is None else value

    @field_validator("keepers")
    @classmethod
    def _keeper_keys(cls, value: dict[str, str]) -> dict[str, str]:
        return check_keepers(value)

    @field_validator("rotate_after")
    @classmethod
    def _duration(cls, value: Optional[str]) -> Optional[str]:
        return check_duration(value)

    @field_validator("api_url")
    @classmethod
    def _url(cls, value: Optional[str]) -> Optional[str]:
        if value is None:
            return None
        try:
            normalize_base_url(value)
        except ConfigError as exc:
            raise ValueError(exc.message) from None
        return value

    @field_validator("revoke_on_delete", "adopt_existing", "redeploy", mode="before")
    @classmethod
    def _bool_default(cls, value: Any, info: Any) -> Any:
        # An explicit None from the program means "use the default".
        if value is None:
            return cls.model_fields[info.field_name].default
        return value


def validation_failures(exc: ValidationError) -> list[tuple[str, str]]:
    """(field, reason) pairs from a pydantic error, never echoing input values."""
    out: list[tuple[str, str]] = []
    for err in exc.errors(include_input=False, include_url=False):
        loc = [str(p) for p in err.get("loc", ())]
        field = loc[0] if loc else "inputs"
        msg = str(err.get("msg", "invalid value"))
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        if err.get("type") == "extra_forbidden":
            msg = f"unknown input '{field}'"
        elif err.get("type") == "missing":
            msg = f"{field} is required"
        elif len(loc) > 1:
            sub = ".".join(loc[1:])
            if loc[0] == "keepers" and loc[-1] == "[key]":
                sub = ".".join(loc[1:-1])
            msg = f"{field}.{sub}: {msg}"
        out.append((field, msg))
    return out

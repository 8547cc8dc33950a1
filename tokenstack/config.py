"""Schema of the stack config `gorules-tokens:environments`.

Validated before any resource is declared, so a typo fails `pulumi preview` with the entry
and the field named, and no token is touched.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from provider.models import check_duration, check_keepers, parse_uuid

CONFIG_KEY = "environments"
# Pulumi resource names end up in URNs; keep them to a safe, readable alphabet.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


class StackConfigError(ValueError):
    """The stack config is invalid; the message names the entry and the field."""


class EnvironmentEntry(BaseModel):
    """One environment whose token this stack owns."""

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)

    name: str
    project_id: str = Field(alias="projectId")
    environment_id: str = Field(alias="environmentId")
    keepers: dict[str, str] = Field(default_factory=dict)
    rotate_after: str | None = Field(default=None, alias="rotateAfter")
    revoke_on_delete: bool = Field(default=False, alias="revokeOnDelete")
    adopt_existing: bool = Field(default=False, alias="adoptExisting")
    redeploy: bool = True

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.fullmatch(value):
            raise ValueError("must be 1-63 letters, digits, '_', '.' or '-', starting with a letter or digit")
        return value

    @field_validator("project_id", "environment_id")
    @classmethod
    def _uuid(cls, value: str) -> str:
        return parse_uuid(value)

    @field_validator("keepers")
    @classmethod
    def _keepers(cls, value: dict[str, str]) -> dict[str, str]:
        return check_keepers(value)

    @field_validator("rotate_after")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        return check_duration(value)


def _describe(index: int, raw: Any) -> str:
    name = raw.get("name") if isinstance(raw, dict) else None
    return f"{CONFIG_KEY}[{index}]" + (f" ({name!r})" if isinstance(name, str) else "")


def parse_environments(raw: Any) -> list[EnvironmentEntry]:
    """Validates the raw config value; raises StackConfigError naming every bad field."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise StackConfigError(f"{CONFIG_KEY}: must be a list of objects with name, projectId, environmentId")
    problems: list[str] = []
    entries: list[EnvironmentEntry] = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            problems.append(f"{_describe(index, item)}: must be an object")
            continue
        try:
            entries.append(EnvironmentEntry.model_validate(item))
        except ValidationError as exc:
            for error in exc.errors():
                field = ".".join(str(part) for part in error["loc"]) or "(entry)"
                message = error["msg"].removeprefix("Value error, ")
                problems.append(f"{_describe(index, item)}: field '{field}': {message}")
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        if entry.name in seen:
            problems.append(f"{CONFIG_KEY}[{index}] ({entry.name!r}): field 'name': duplicate of an earlier entry")
        seen[entry.name] = index
    if problems:
        raise StackConfigError("invalid stack config:\n  " + "\n  ".join(problems))
    return entries

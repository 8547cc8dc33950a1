"""Validation and defaults of ``EnvironmentToken`` inputs, shared with the stack config.

This module deliberately imports nothing outside the standard library and this
package: ``check`` runs in the provider process on every preview and ``up``,
and the stack program validates its config with the same rules before it
declares a resource. Loading pydantic for eight flat fields cost about 85 ms in
each of those two processes, the difference between meeting and missing the
preview target in ``docs/PERFORMANCE.md``. BRMS payloads, which arrive from the
network, are still parsed by the pydantic models in ``models.py``.

Failures are ``(field, reason)`` pairs; reasons never repeat the offending
value except for durations and URLs, which are not secret and are useless to
fix without it.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional

from .config import normalize_base_url
from .durations import DurationError, parse_duration
from .errors import ConfigError

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
REQUIRED_FIELDS = ("project_id", "environment_id")

# What an absent (or null) input means. Inputs at their default are left out of
# the state: every byte of a resource is rewritten at every checkpoint.
DEFAULTS: Mapping[str, Any] = {
    "keepers": {},
    "rotate_after": None,
    "revoke_on_delete": False,
    "adopt_existing": False,
    "redeploy": True,
    "api_url": None,
}

# Keepers are plain (non-secret) state stored on every resource and echoed in diffs: a
# bound keeps state small and turns a mistake (a file pasted as a keeper) into a clear error.
MAX_KEEPERS = 32
MAX_KEEPER_NAME = 128
MAX_KEEPER_VALUE = 1024

_UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


REQUIRED = "required"
UNKNOWN = "unknown"


class FieldError(ValueError):
    """Why one value is invalid; ``path`` points below the field (``("v",)`` for ``keepers.v``)."""

    def __init__(self, reason: str, path: tuple[str, ...] = ()) -> None:
        super().__init__(reason)
        self.reason = reason
        self.path = path


@dataclass(frozen=True)
class Problem:
    """One invalid (or missing, or unknown) input, for callers to word in their own terms."""

    field: str
    reason: str
    path: tuple[str, ...] = ()

    def where(self, name: Optional[str] = None) -> str:
        return ".".join((name or self.field, *self.path))

    def describe(self) -> str:
        """The wording of ``check`` failures, which the engine shows next to the property."""
        if self.reason == REQUIRED:
            return f"{self.field} is required"
        if self.reason == UNKNOWN:
            return f"unknown input '{self.field}'"
        return f"{self.where()}: {self.reason}" if self.path else self.reason


class InputError(ValueError):
    """One or more inputs are invalid."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"{p.field}: {p.describe()}" for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class TokenInputs:
    """Validated inputs with their defaults applied."""

    project_id: str
    environment_id: str
    keepers: Mapping[str, str] = field(default_factory=dict)
    rotate_after: Optional[str] = None
    revoke_on_delete: bool = False
    adopt_existing: bool = False
    redeploy: bool = True
    api_url: Optional[str] = None

    def compact(self) -> dict[str, Any]:
        """The inputs that differ from their defaults, as ``check`` hands them to the engine."""
        # Not dataclasses.asdict: it deep-copies, and this runs for every token of every up.
        values = {name: getattr(self, name) for name in INPUT_FIELDS}
        return {k: v for k, v in values.items() if k in REQUIRED_FIELDS or v != DEFAULTS[k]}


def parse_uuid(value: Any) -> str:
    """Canonical lower-case UUID; refuses braces, URNs and surrounding spaces."""
    if not isinstance(value, str):
        raise FieldError("must be a string (a UUID)")
    if not _UUID_RE.fullmatch(value):
        raise FieldError("must be a UUID like 123e4567-e89b-12d3-a456-426614174000 (no whitespace)")
    return str(uuid.UUID(value))


def check_keepers(value: Any) -> dict[str, str]:
    """A map of at most ``MAX_KEEPERS`` non-empty names to strings, within the length bounds."""
    if not isinstance(value, dict):
        raise FieldError("must be a map of strings")
    if len(value) > MAX_KEEPERS:
        raise FieldError(f"at most {MAX_KEEPERS} keepers are allowed, got {len(value)}")
    for key, item in value.items():
        if not isinstance(key, str) or not key:
            raise FieldError("keeper names must be non-empty strings")
        if len(key) > MAX_KEEPER_NAME:
            raise FieldError(f"keeper names must be at most {MAX_KEEPER_NAME} characters")
        if not isinstance(item, str):
            raise FieldError("must be a string", (key[:40],))
        if len(item) > MAX_KEEPER_VALUE:
            raise FieldError(f"must be at most {MAX_KEEPER_VALUE} characters", (key[:40],))
    return dict(value)


def check_duration(value: Any) -> Optional[str]:
    """``value`` unchanged when it is None or a duration such as ``30d``; ValueError otherwise."""
    if value is not None:
        if not isinstance(value, str):
            raise FieldError("must be a string such as '30d' or '12h'")
        try:
            parse_duration(value)
        except DurationError as exc:
            raise FieldError(str(exc)) from None
    return value


def check_url(value: Any) -> str:
    """A BRMS URL as written, once ``normalize_base_url`` accepts it."""
    if not isinstance(value, str):
        raise FieldError("must be a string")
    try:
        normalize_base_url(value)
    except ConfigError as exc:
        raise FieldError(exc.message) from None
    return value


def check_bool(value: Any) -> bool:
    # Strict: "true" or 1 from a YAML typo must not silently mean True.
    if not isinstance(value, bool):
        raise FieldError("must be true or false")
    return value


_CHECKS: Mapping[str, Callable[[Any], Any]] = {
    "project_id": parse_uuid,
    "environment_id": parse_uuid,
    "keepers": check_keepers,
    "rotate_after": check_duration,
    "revoke_on_delete": check_bool,
    "adopt_existing": check_bool,
    "redeploy": check_bool,
    "api_url": check_url,
}


def validate_inputs(raw: Mapping[str, Any]) -> TokenInputs:
    """Check every field of ``raw`` (null means default); raises InputError naming each bad one."""
    problems: list[Problem] = []
    values: dict[str, Any] = {}
    for name, value in raw.items():
        check = _CHECKS.get(name)
        if check is None:
            problems.append(Problem(name, UNKNOWN))
        elif value is not None:
            try:
                values[name] = check(value)
            except FieldError as exc:
                problems.append(Problem(name, exc.reason, exc.path))
    failed = {p.field for p in problems}
    missing = [name for name in REQUIRED_FIELDS if name not in values and name not in failed]
    problems.extend(Problem(name, REQUIRED) for name in missing)
    if problems:
        raise InputError(problems)
    return TokenInputs(**values)


def default_of(props: Mapping[str, Any], name: str) -> Any:
    """``props[name]``, or the input's default when it is absent or null."""
    value = props.get(name)
    return DEFAULTS.get(name) if value is None else value

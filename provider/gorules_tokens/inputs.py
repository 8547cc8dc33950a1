"""Validation of ``EnvironmentToken`` inputs, shared by ``check`` and the stack config.

Driven by the field table (``fields.py``). Standard library only: ``check`` runs in the
provider process on every preview and ``up``, and loading pydantic for a handful of flat
fields cost about 85 ms in each of two processes (``docs/PERFORMANCE.md``). BRMS payloads,
which arrive from the network, are still parsed by the pydantic models in ``models.py``.

Failures are ``(field, reason)`` pairs; reasons never repeat the offending value except
for durations and URLs, which are not secret and are useless to fix without it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

from .errors import InvalidValueError
from .fields import BY_NAME, INPUT_NAMES, INPUTS, OUTPUT_NAMES, FieldError, is_unknown

REQUIRED = "required"
UNKNOWN = "unknown"

# Stands in for an id that is still unknown at preview, so the other inputs can be checked.
_PLACEHOLDER_UUID = "00000000-0000-0000-0000-000000000000"


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


class InputError(InvalidValueError):
    """One or more inputs are invalid."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"{p.field}: {p.describe()}" for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class TokenInputs:
    """Validated inputs with their defaults applied.

    Spelled out for type checkers; ``tests/provider/test_fields.py`` proves the attributes
    and defaults are exactly the table's inputs.
    """

    project_id: str
    environment_id: str
    keepers: Mapping[str, str] = field(default_factory=dict)
    rotate_after: Optional[str] = None
    revoke_on_delete: bool = False
    adopt_existing: bool = False
    redeploy: bool = True
    instance: Optional[str] = None
    api_url: Optional[str] = None

    def compact(self) -> dict[str, Any]:
        """The inputs that differ from their defaults, as ``check`` hands them to the engine."""
        # Not dataclasses.asdict: it deep-copies, and this runs for every token of every up.
        values = {f.name: getattr(self, f.name) for f in INPUTS}
        return {f.name: values[f.name] for f in INPUTS if f.required or values[f.name] != f.default}


def validate_inputs(raw: Mapping[str, Any]) -> TokenInputs:
    """Check every field of ``raw`` (null means default); raises InputError naming each bad one."""
    problems: list[Problem] = []
    values: dict[str, Any] = {}
    for name, value in raw.items():
        if name not in INPUT_NAMES:
            problems.append(Problem(name, UNKNOWN))
        elif value is not None:
            try:
                values[name] = BY_NAME[name].check(value)
            except FieldError as exc:
                problems.append(Problem(name, exc.reason, exc.path))
    failed = {p.field for p in problems}
    problems.extend(Problem(f.name, REQUIRED) for f in INPUTS
                    if f.required and f.name not in values and f.name not in failed)
    if problems:
        raise InputError(problems)
    return TokenInputs(**values)


def check_news(news: Mapping[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """What ``check`` stores: the compact inputs with preview unknowns passed through, or
    ``(property, reason)`` failures. Unknown values are validated at ``up``; the known part
    of a partly unknown map is validated now."""
    failures: list[tuple[str, str]] = []
    raw: dict[str, Any] = {}
    unknown: dict[str, Any] = {}
    for key, value in news.items():
        if key in OUTPUT_NAMES:
            if value is not None and not is_unknown(value):
                failures.append((key, f"{key} is an output and cannot be set"))
            continue
        if value is None:
            continue
        if key not in INPUT_NAMES:
            failures.append((key, f"unknown input '{key}'"))
            continue
        if is_unknown(value):
            unknown[key] = value
            if isinstance(value, dict):
                raw[key] = {k: v for k, v in value.items() if not is_unknown(k) and not is_unknown(v)}
            elif BY_NAME[key].required:
                raw[key] = _PLACEHOLDER_UUID
            continue
        raw[key] = value
    inputs: dict[str, Any] = {}
    try:
        inputs = validate_inputs(raw).compact()
    except InputError as exc:
        failures.extend((p.field, p.describe()) for p in exc.problems)
    if failures:
        return {}, failures
    inputs.update(unknown)
    return inputs, []

"""The one table of ``EnvironmentToken`` properties.

Every place that used to keep its own list of names (the inputs and their defaults, the
echoes into outputs, the change effect that decides replace vs update, the outputs the
resource class declares, the stack-config keys) reads this table instead, so adding a
setting is one row and the lists can no longer drift apart.

Standard library only (plus the SDK's unknown marker): ``check`` runs on every preview,
and the stack program validates its config with the same rows.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional

from pulumi.runtime.rpc import UNKNOWN as WIRE_UNKNOWN
from pulumi.runtime.rpc import contains_unknowns

from .config import normalize_base_url
from .durations import DurationError, parse_duration
from .errors import ConfigError, InvalidValueError
from .instances import INSTANCE_NAME, NAME_RULE

# Keepers are plain (non-secret) state stored on every resource and echoed in diffs: a
# bound keeps state small and turns a mistake (a file pasted as a keeper) into a clear error.
MAX_KEEPERS = 32
MAX_KEEPER_NAME = 128
MAX_KEEPER_VALUE = 1024

_UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")

INPUT = "input"
OUTPUT = "output"

# How a change of an input is applied (the plan reads these):
IDENTITY = "identity"  # part of the resource id: another environment, so replace
REPLACE = "replace"  # another token wanted: replace (= regenerate)
UPDATE = "update"  # behaviour only: in-place update, token kept
SCHEDULE = "schedule"  # update, and replace once the period has elapsed since rotated_at
BRMS = "brms"  # replace when it resolves to another BRMS, else update
CREATE_ONLY = "create_only"  # read by the first create only; a change needs no step


class FieldError(InvalidValueError):
    """Why one value is invalid; ``path`` points below the field (``("v",)`` for ``keepers.v``)."""

    def __init__(self, reason: str, path: tuple[str, ...] = ()) -> None:
        super().__init__(reason)
        self.reason = reason
        self.path = path


# -- value checks (raise FieldError, never echo the value except durations and URLs) ---------


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
    """``value`` unchanged when it is a duration such as ``30d``."""
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


def check_instance(value: Any) -> str:
    """An instance name in the alphabet of entry names; whether it is configured is the
    config layer's question (``check`` asks it), since this table never sees config."""
    if not isinstance(value, str):
        raise FieldError("must be a string (an instance name from gorules:instances)")
    if not INSTANCE_NAME.fullmatch(value):
        raise FieldError(NAME_RULE)
    return value


def check_bool(value: Any) -> bool:
    # Strict: "true" or 1 from a YAML typo must not silently mean True.
    if not isinstance(value, bool):
        raise FieldError("must be true or false")
    return value


# -- canonical forms, so that two spellings of one value are not a change ---------------------


def canon_uuid(value: Any) -> Any:
    try:
        return parse_uuid(value)
    except FieldError:
        return value


def _lenient(parse: Callable[[Any], Any], error: type[Exception]) -> Callable[[Any], Any]:
    """``parse`` for comparisons: empty means None, an invalid value compares as written."""
    def canon(value: Any) -> Any:
        if not value:
            return None
        try:
            return parse(value)
        except error:
            return value
    return canon


canon_url = _lenient(normalize_base_url, ConfigError)
canon_duration = _lenient(lambda value: parse_duration(value).total_seconds(), DurationError)


def _same(value: Any) -> Any:
    return value


def is_unknown(value: Any) -> bool:
    """A preview unknown anywhere in ``value``: the SDK's ``Unknown`` objects (what 3.272
    hands ``check``/``diff``), or the raw wire sentinel string, which the SDK's own test
    does not recognise."""
    if contains_unknowns(value):
        return True
    if isinstance(value, str):
        return value == WIRE_UNKNOWN
    if isinstance(value, dict):
        return any(is_unknown(k) or is_unknown(v) for k, v in value.items())
    if isinstance(value, list):
        return any(is_unknown(v) for v in value)
    return False


# -- the table -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """One property of the resource.

    ``config_key`` is the camelCase key of a stack-config entry (None: not settable there);
    ``echo`` says whether a non-default value is copied into the outputs, which is all
    ``diff``, ``update``, ``read`` and ``delete`` are given by the engine.
    """

    name: str
    kind: str = INPUT
    check: Callable[[Any], Any] = _same
    default: Any = None
    required: bool = False
    effect: str = UPDATE
    canon: Callable[[Any], Any] = _same
    config_key: Optional[str] = None
    echo: bool = True
    secret: bool = False

    def value_in(self, props: Mapping[str, Any]) -> Any:
        """``props[name]``, or the default when it is absent or null."""
        value = props.get(self.name)
        return self.default if value is None else value


TABLE: tuple[Field, ...] = (
    # The ids travel in the resource id (``{project}/{environment}``), so they are not echoed.
    Field("project_id", check=parse_uuid, required=True, effect=IDENTITY, canon=canon_uuid,
          config_key="projectId", echo=False),
    Field("environment_id", check=parse_uuid, required=True, effect=IDENTITY, canon=canon_uuid,
          config_key="environmentId", echo=False),
    Field("keepers", check=check_keepers, default={}, effect=REPLACE, config_key="keepers"),
    Field("rotate_after", check=check_duration, effect=SCHEDULE, canon=canon_duration,
          config_key="rotateAfter"),
    Field("revoke_on_delete", check=check_bool, default=False, config_key="revokeOnDelete"),
    # Read by a create only: the first creation of a resource adopts, a create for an
    # environment diffed in the same run (a replacement) regenerates (the run's ledger, see
    # provider.create). So it is neither echoed nor diffed.
    Field("adopt_existing", check=check_bool, default=False, effect=CREATE_ONLY, config_key="adoptExisting",
          echo=False),
    Field("redeploy", check=check_bool, default=True, config_key="redeploy"),
    # The BRMS: a named instance of gorules:instances (absent: the default instance), or for
    # compatibility a URL that must be one of the configured instances' (never a stack-config key).
    Field("instance", check=check_instance, effect=BRMS, config_key="instance"),
    Field("api_url", check=check_url, effect=BRMS, canon=canon_url),
    Field("access_token", kind=OUTPUT, secret=True),
    # ``deployment`` environments only: the token the BRMS listed just before the regenerate,
    # which the environment's Agents accept until their first poll after the redeploy. An app
    # holding both tokens is served across that cut-over (see operations.mint).
    Field("previous_access_token", kind=OUTPUT, secret=True),
    Field("fingerprint", kind=OUTPUT),
    Field("rotated_at", kind=OUTPUT),
    Field("next_rotation_at", kind=OUTPUT),
    Field("environment_name", kind=OUTPUT),
    Field("environment_key", kind=OUTPUT),
    Field("environment_type", kind=OUTPUT),
    Field("release_id", kind=OUTPUT),
    Field("redeploy_status", kind=OUTPUT),
    Field("token_source", kind=OUTPUT),
    # Set while redeploy_status is a refused redeploy (failed:4xx): the fingerprint of the PAT
    # the BRMS refused, so a later plan retries once the PAT changed, and not on every `up`.
    Field("redeploy_pat_fingerprint", kind=OUTPUT),
    # The normalised URL of the BRMS the token was minted on: where it lives, whatever the
    # inputs say now (see ``plan``), and the key that picks the PAT for read and delete.
    # States of earlier releases lack it.
    Field("brms_url", kind=OUTPUT),
)

INPUTS: tuple[Field, ...] = tuple(f for f in TABLE if f.kind == INPUT)
OUTPUTS: tuple[Field, ...] = tuple(f for f in TABLE if f.kind == OUTPUT)
BY_NAME: Mapping[str, Field] = {f.name: f for f in TABLE}
INPUT_NAMES = frozenset(f.name for f in INPUTS)
OUTPUT_NAMES = frozenset(f.name for f in OUTPUTS)
SECRET_OUTPUTS: tuple[str, ...] = tuple(f.name for f in OUTPUTS if f.secret)
# Stack-config key (camelCase) -> input name.
CONFIG_KEYS: Mapping[str, str] = {f.config_key: f.name for f in INPUTS if f.config_key}


def default_of(props: Mapping[str, Any], name: str) -> Any:
    """``props[name]``, or the input's default when it is absent or null."""
    return BY_NAME[name].value_in(props)


def echo(values: Mapping[str, Any]) -> dict[str, Any]:
    """The inputs later calls need, as outputs: non-default values of echoed fields only
    (the engine rewrites every stored byte at each checkpoint)."""
    return {f.name: values[f.name] for f in INPUTS
            if f.echo and f.name in values and values[f.name] != f.default}

"""The token stack's outputs: a contract between the stack that owns the tokens, the stacks
that read them (``TokenStackReference``) and the rollout.

One table, ``TOKEN_STACK_OUTPUTS``: each output is a map entry name -> one resource output.
``export_token_stack_outputs`` writes them (the repo's token stack and users' own programs call
it); the readers below parse what ``pulumi stack output --json`` prints without
``--show-secrets``, so the rollout and ``status`` never hold a token. Below the rollout, the
consumer helper and the token stack program alike: all three import the names from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Mapping, Optional

from .fingerprint import PREFIX
from .schedule import parse_timestamp

if TYPE_CHECKING:  # the resource imports the provider; readers of outputs need neither
    from .resource import EnvironmentToken

ACCESS_TOKENS = "accessTokens"
# Agent environments: the token their Agents still accept until they poll (issue 24).
PREVIOUS_ACCESS_TOKENS = "previousAccessTokens"
FINGERPRINTS = "fingerprints"
ROTATED_AT = "rotatedAt"
NEXT_ROTATION_AT = "nextRotationAt"
BRMS_URLS = "brmsUrls"
ENVIRONMENT_TYPES = "environmentTypes"
CONSUMER_FINGERPRINTS = "gorulesTokenFingerprints"
# Entries the rollout's repair update leaves out of the maps (comma-separated names): a token
# whose first create failed has no outputs at all, and one unknown value would make the
# whole map unreadable to every StackReference. A plain `pulumi up` exports every entry.
LEAVE_OUT_ENV = "GORULES_TOKENS_LEAVE_OUT"


@dataclass(frozen=True)
class StackOutput:
    """One exported map: its name, the ``EnvironmentToken`` output it collects, whether secret,
    and whether the rollout needs it before it starts (an output added in a later release is
    not: the rollout's own ``up`` exports it)."""

    name: str
    attribute: str
    secret: bool = False
    required: bool = True


TOKEN_STACK_OUTPUTS = (
    StackOutput(ACCESS_TOKENS, "access_token", secret=True),
    # Agent-served entries: the token their Agents accept until the poll after a rotation's
    # redeploy (null elsewhere); token stacks of earlier releases do not export it.
    StackOutput(PREVIOUS_ACCESS_TOKENS, "previous_access_token", secret=True, required=False),
    StackOutput(FINGERPRINTS, "fingerprint"),
    StackOutput(ROTATED_AT, "rotated_at"),
    StackOutput(NEXT_ROTATION_AT, "next_rotation_at"),
    # Where each token is valid (its instance's URL), so a consumer can pick a token of any instance.
    StackOutput(BRMS_URLS, "brms_url"),
    # brms or deployment (Agent-served): the rollout's note on the Agent cut-over reads it.
    StackOutput(ENVIRONMENT_TYPES, "environment_type", required=False),
)
# The resource outputs those maps read: a program that declares tokens only to export them
# can resolve just these (see tokenstack/program.py).
EXPORTED_ATTRIBUTES = tuple(o.attribute for o in TOKEN_STACK_OUTPUTS)


def export_token_stack_outputs(tokens: Mapping[str, "EnvironmentToken"]) -> None:
    """Exports every map of ``TOKEN_STACK_OUTPUTS`` for ``tokens`` (entry name -> resource).

    Call it once in a token stack program: ``gorules-tokens rollout`` and
    ``TokenStackReference`` read these outputs, and nothing else."""
    import os

    import pulumi

    left_out = set(filter(None, os.environ.get(LEAVE_OUT_ENV, "").split(",")))
    tokens = {name: token for name, token in tokens.items() if name not in left_out}
    for output in TOKEN_STACK_OUTPUTS:
        value = {name: getattr(t, output.attribute) for name, t in tokens.items()}
        pulumi.export(output.name, pulumi.Output.secret(value) if output.secret else value)


def missing_outputs(outputs: Mapping[str, Any]) -> list[str]:
    """The contract's outputs a token stack does not export (masked read is enough)."""
    return [o.name for o in TOKEN_STACK_OUTPUTS if o.required and o.name not in outputs]


@dataclass(frozen=True)
class TokenView:
    """One token as the token stack exports it (no secret)."""

    entry: str
    fingerprint: str
    rotated_at: Optional[str]
    next_rotation_at: Optional[str]
    environment_type: Optional[str] = None

    def due(self, now: datetime) -> bool:
        """True once ``nextRotationAt`` has passed (keepers changes only show in a preview)."""
        return bool(self.next_rotation_at) and now >= parse_timestamp(self.next_rotation_at)


def _map(outputs: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = outputs.get(key)
    return value if isinstance(value, Mapping) else {}


def token_views(outputs: Mapping[str, Any]) -> dict[str, TokenView]:
    """Entry name -> its exported token, from the token stack's masked outputs."""
    fingerprints, rotated, due_at, types = (
        _map(outputs, k) for k in (FINGERPRINTS, ROTATED_AT, NEXT_ROTATION_AT, ENVIRONMENT_TYPES))
    return {
        name: TokenView(name, fp, rotated.get(name), due_at.get(name), types.get(name))
        for name, fp in fingerprints.items()
        # After `up --continue-on-error`, an entry whose create failed is exported as the
        # engine's unknown placeholder: no token, so no consumer is sent to fetch it.
        if isinstance(fp, str) and fp.startswith(PREFIX)
    }


def unreadable_entries(outputs: Mapping[str, Any]) -> list[str]:
    """Entries exported without a fingerprint (the engine's unknown placeholder after a failed
    create under ``--continue-on-error``). One such value makes the whole output set unknown
    to every ``StackReference``, so no consumer can read any token until it is gone."""
    return [name for name, fp in _map(outputs, FINGERPRINTS).items() if not (isinstance(fp, str) and fp.startswith(PREFIX))]


def consumer_fingerprints(outputs: Mapping[str, Any]) -> Optional[dict[str, str]]:
    """What a consumer says it handed on, or None when it exports nothing usable.

    Only fingerprints count: a value exported as a secret reads ``[secret]`` here and is
    treated as not exported (unknown), never as a mismatch."""
    value = outputs.get(CONSUMER_FINGERPRINTS)
    if not isinstance(value, Mapping):
        return None
    return {str(k): v for k, v in value.items() if isinstance(v, str) and v.startswith(PREFIX)}

"""The stack outputs the rollout reads: the token stack's maps and the consumers' fingerprints.

These names are a contract with users' stacks and other tooling; the token stack program
exports them under these names and the consumer helper writes ``CONSUMER_FINGERPRINTS``.
Values are read masked (``pulumi stack output --json`` without ``--show-secrets``), so the
rollout and ``status`` never hold a token.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping, Optional

from ..fingerprint import PREFIX
from ..schedule import parse_timestamp

ACCESS_TOKENS = "accessTokens"
FINGERPRINTS = "fingerprints"
ROTATED_AT = "rotatedAt"
NEXT_ROTATION_AT = "nextRotationAt"
BRMS_URLS = "brmsUrls"
CONSUMER_FINGERPRINTS = "gorulesTokenFingerprints"


@dataclass(frozen=True)
class TokenView:
    """One token as the token stack exports it (no secret)."""

    entry: str
    fingerprint: str
    rotated_at: Optional[str]
    next_rotation_at: Optional[str]

    def due(self, now: datetime) -> bool:
        """True once ``nextRotationAt`` has passed (keepers changes only show in a preview)."""
        return bool(self.next_rotation_at) and now >= parse_timestamp(self.next_rotation_at)


def _map(outputs: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = outputs.get(key)
    return value if isinstance(value, Mapping) else {}


def token_views(outputs: Mapping[str, Any]) -> dict[str, TokenView]:
    """Entry name -> its exported token, from the token stack's masked outputs."""
    fingerprints, rotated, due_at = (_map(outputs, k) for k in (FINGERPRINTS, ROTATED_AT, NEXT_ROTATION_AT))
    return {
        name: TokenView(name, fp, rotated.get(name), due_at.get(name))
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

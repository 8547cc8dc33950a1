"""Non-secret token fingerprint.

Lets humans and downstream stacks see *that* the token changed (and match it
against a value they hold) without exposing it: ``sha256:`` + the first 16 hex
digits of SHA-256. 64 bits is far too short to brute-force a random token from,
and long enough that accidental collisions don't matter.
"""

from __future__ import annotations

import hashlib

PREFIX = "sha256:"


def fingerprint(token: str) -> str:
    return PREFIX + hashlib.sha256(token.encode("utf-8")).hexdigest()[:16]

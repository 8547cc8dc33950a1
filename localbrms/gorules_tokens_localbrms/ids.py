"""Identifiers, secrets and timestamps, kept in one place so their format is consistent."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import datetime, timezone


def new_id() -> str:
    """A random UUID string, the id format BRMS uses for every entity."""
    return str(uuid.uuid4())


def new_token() -> str:
    """A fresh secret: 32 random bytes, URL-safe base64 (43 characters)."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """SHA-256 of a PAT; PATs are only stored hashed, since they are shown once."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def now_iso() -> str:
    """UTC timestamp in the JavaScript ``toISOString()`` format BRMS (Node) emits."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_uuid(value: str) -> str | None:
    """Canonical lower-case UUID string, or None if ``value`` is not a UUID."""
    try:
        return str(uuid.UUID(value))
    except (ValueError, AttributeError, TypeError):
        return None

"""Rotation schedule arithmetic and the timestamp format used in outputs.

Kept separate from the lifecycle so "is rotation due?" is a pure function of
(rotated_at, rotate_after, now) that diff can evaluate at preview time, which is
what makes a due rotation visible in ``pulumi preview`` (unlike
``time_rotating`` v1, which deleted itself during read).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Optional

from .durations import parse_duration


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def format_timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with second precision, e.g. ``2025-01-31T12:00:00Z``."""
    if moment.tzinfo is None:
        raise ValueError("timestamp must be timezone-aware")
    return moment.astimezone(timezone.utc).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(value: str) -> datetime:
    """Parse an RFC 3339 timestamp (``Z`` or offset); naive values are rejected."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"timestamp {value!r} has no timezone")
    return moment.astimezone(timezone.utc)


def next_rotation_at(rotated_at: str, rotate_after: Optional[str]) -> Optional[str]:
    """When the token becomes due, or None without a rotation period."""
    if not rotate_after:
        return None
    return format_timestamp(parse_timestamp(rotated_at) + parse_duration(rotate_after))


def rotation_due(rotated_at: Optional[str], rotate_after: Optional[str], now: datetime) -> bool:
    """True once ``now >= rotated_at + rotate_after``.

    A missing or unparsable ``rotated_at`` counts as due when a period is set:
    with no trustworthy age, rotating is the conservative choice.
    """
    if not rotate_after:
        return False
    period: timedelta = parse_duration(rotate_after)
    if not rotated_at:
        return True
    try:
        anchor = parse_timestamp(rotated_at)
    except (ValueError, TypeError):
        return True
    return now >= anchor + period

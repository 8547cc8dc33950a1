"""Parse rotation periods such as ``30d``, ``12h``, ``2w`` or ``1d12h``.

A small, strict grammar (integers with units w/d/h/m/s, each unit at most once)
so a typo such as ``30 d`` or ``1.5h`` fails in ``check`` instead of silently
meaning something else. Months/years are deliberately absent: they have no
fixed length, and a rotation policy should be unambiguous.
"""

from __future__ import annotations

import re
from datetime import timedelta

from .errors import InvalidValueError

UNIT_SECONDS: dict[str, int] = {
    "w": 7 * 24 * 3600,
    "d": 24 * 3600,
    "h": 3600,
    "m": 60,
    "s": 1,
}

# Upper bound keeps datetime arithmetic far away from overflow (year 9999).
MAX_DURATION = timedelta(days=100 * 365)

_TOKEN_RE = re.compile(r"(\d+)([wdhms])")
_FULL_RE = re.compile(r"(?:\d+[wdhms])+")


class DurationError(InvalidValueError):
    """The value is not a positive duration in the supported grammar."""


def parse_duration(value: str) -> timedelta:
    """Return the positive ``timedelta`` denoted by ``value``.

    Raises :class:`DurationError` for empty, negative, zero, fractional,
    whitespace-containing, repeated-unit or oversized values.
    """
    if not isinstance(value, str):
        raise DurationError("duration must be a string such as '30d' or '1d12h'")
    if not _FULL_RE.fullmatch(value):
        raise DurationError(
            f"invalid duration {value!r}: use integers with units w, d, h, m, s "
            "(for example '30d', '12h', '90s', '15m', '2w', '1d12h')"
        )
    seen: set[str] = set()
    total = 0
    for amount, unit in _TOKEN_RE.findall(value):
        if unit in seen:
            raise DurationError(f"invalid duration {value!r}: unit '{unit}' repeated")
        seen.add(unit)
        total += int(amount) * UNIT_SECONDS[unit]
    if total <= 0:
        raise DurationError(f"invalid duration {value!r}: must be greater than zero")
    result = timedelta(seconds=total)
    if result > MAX_DURATION:
        raise DurationError(f"invalid duration {value!r}: must not exceed 100 years")
    return result

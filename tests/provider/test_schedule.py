from datetime import datetime, timedelta, timezone

import pytest

from gorules_tokens.schedule import format_timestamp, next_rotation_at, parse_timestamp, rotation_due

T0 = datetime(2025, 1, 1, 12, 0, 0, tzinfo=timezone.utc)


def test_format_is_rfc3339_utc_seconds():
    moment = datetime(2025, 1, 1, 13, 0, 0, 123456, tzinfo=timezone(timedelta(hours=1)))
    assert format_timestamp(moment) == "2025-01-01T12:00:00Z"


def test_format_rejects_naive():
    with pytest.raises(ValueError):
        format_timestamp(datetime(2025, 1, 1))


def test_parse_roundtrip_and_offsets():
    assert parse_timestamp("2025-01-01T12:00:00Z") == T0
    assert parse_timestamp("2025-01-01T13:00:00+01:00") == T0
    with pytest.raises(ValueError):
        parse_timestamp("2025-01-01T12:00:00")


def test_next_rotation():
    assert next_rotation_at("2025-01-01T12:00:00Z", "1d12h") == "2025-01-03T00:00:00Z"
    assert next_rotation_at("2025-01-01T12:00:00Z", None) is None


def test_rotation_due_boundaries():
    assert not rotation_due("2025-01-01T12:00:00Z", "1h", T0 + timedelta(minutes=59, seconds=59))
    assert rotation_due("2025-01-01T12:00:00Z", "1h", T0 + timedelta(hours=1))
    assert not rotation_due("2025-01-01T12:00:00Z", None, T0 + timedelta(days=999))


def test_missing_or_garbage_anchor_is_due():
    assert rotation_due(None, "1h", T0)
    assert rotation_due("yesterday", "1h", T0)

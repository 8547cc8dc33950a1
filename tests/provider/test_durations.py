from datetime import timedelta

import pytest

from gorules_tokens.durations import DurationError, parse_duration


@pytest.mark.parametrize(
    "text, expected",
    [
        ("30d", timedelta(days=30)),
        ("12h", timedelta(hours=12)),
        ("90s", timedelta(seconds=90)),
        ("15m", timedelta(minutes=15)),
        ("2w", timedelta(weeks=2)),
        ("1d12h", timedelta(days=1, hours=12)),
        ("1w2d3h4m5s", timedelta(weeks=1, days=2, hours=3, minutes=4, seconds=5)),
        ("12h1d", timedelta(days=1, hours=12)),
        ("0d1s", timedelta(seconds=1)),
    ],
)
def test_parses_valid_durations(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "0", "0d", "0h0m", "-1d", "1", "d", "1.5h", "1 d", " 1d", "1d ", "1D", "1y", "1mo", "1d1d", "+1d",
     "1ms", "abc", "1e3s", "99999999w"],
)
def test_rejects_invalid_durations(text):
    with pytest.raises(DurationError):
        parse_duration(text)


def test_rejects_non_string():
    with pytest.raises(DurationError):
        parse_duration(30)  # type: ignore[arg-type]


def test_error_message_quotes_value_and_grammar():
    with pytest.raises(DurationError, match=r"'1\.5h'.*w, d, h, m, s"):
        parse_duration("1.5h")

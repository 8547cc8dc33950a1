from datetime import datetime, timezone

import httpx
import pytest

from gorules_tokens.retry import RETRYABLE_STATUSES, RetryableStatus, RetryPolicy, is_ambiguous, is_transient, parse_retry_after


def test_retry_after_seconds_and_dates():
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Wed, 01 Jan 2025 12:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Wed, 01 Jan 2025 11:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after("") is None
    assert parse_retry_after(None) is None
    assert parse_retry_after("-3") is None


def test_retryable_statuses():
    assert {408, 429, 500, 502, 503, 504} <= RETRYABLE_STATUSES
    assert not {400, 401, 403, 404, 409, 501, 505} & RETRYABLE_STATUSES


@pytest.mark.parametrize(
    "exc, idempotent, expected",
    [
        (httpx.ConnectError("x"), False, True),
        (httpx.ConnectTimeout("x"), False, True),
        (httpx.ReadTimeout("x"), True, True),
        (httpx.ReadTimeout("x"), False, False),
        (httpx.RemoteProtocolError("x"), True, True),
        (httpx.RemoteProtocolError("x"), False, False),
        (httpx.LocalProtocolError("x"), True, False),
        (RetryableStatus(500, None, None, ""), True, True),
        (RetryableStatus(500, None, None, ""), False, False),
        (RetryableStatus(503, None, None, ""), False, True),
        (RetryableStatus(429, 1.0, None, ""), False, True),
        (ValueError("x"), True, False),
    ],
)
def test_is_transient(exc, idempotent, expected):
    assert is_transient(exc, idempotent) is expected


def test_backoff_exponential_capped_and_retry_after_capped():
    policy = RetryPolicy(initial_backoff=0.5, max_backoff=4.0, jitter=0.0, retry_after_cap=20.0)
    assert [policy.backoff(n, None) for n in range(1, 6)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    assert policy.backoff(1, RetryableStatus(429, 3.0, None, "")) == 3.0
    assert policy.backoff(1, RetryableStatus(429, 3600.0, None, "")) == 20.0


def test_jitter_bounded():
    policy = RetryPolicy(initial_backoff=1.0, max_backoff=1.0, jitter=0.5)
    values = [policy.backoff(1, None) for _ in range(200)]
    assert all(1.0 <= v <= 1.5 for v in values) and len(set(values)) > 1


def test_retrying_bounded_by_attempts():
    slept = []
    policy = RetryPolicy(max_attempts=3, deadline=100, initial_backoff=0.01, jitter=0, sleep=slept.append)
    calls = 0
    with pytest.raises(httpx.ConnectError):
        for attempt in policy.retrying(idempotent=True):
            with attempt:
                calls += 1
                raise httpx.ConnectError("down")
    assert calls == 3 and len(slept) == 2


def test_retrying_stops_before_deadline():
    policy = RetryPolicy(max_attempts=50, deadline=5.0, sleep=lambda s: None, retry_after_cap=10.0)
    calls = 0
    with pytest.raises(RetryableStatus):
        for attempt in policy.retrying(idempotent=True):
            with attempt:
                calls += 1
                raise RetryableStatus(429, 10.0, None, "")
    assert calls == 1  # waiting 10 s would overrun the 5 s deadline


@pytest.mark.parametrize("exc, ambiguous", [
    (httpx.ConnectError("refused"), False),  # never reached the server
    (httpx.ConnectTimeout("slow connect"), False),
    (RetryableStatus(503, None, None, ""), False),  # "not processed"
    (RetryableStatus(429, 1.0, None, ""), False),
    (RetryableStatus(500, None, None, ""), True),  # may have been applied before failing
    (httpx.ReadTimeout("no answer"), True),
    (httpx.RemoteProtocolError("dropped"), True),
    (httpx.ReadError("reset"), True),
])
def test_is_ambiguous_means_the_request_may_have_been_applied(exc, ambiguous):
    assert is_ambiguous(exc) is ambiguous

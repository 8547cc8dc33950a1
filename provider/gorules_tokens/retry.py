"""Retry policy for BRMS calls (tenacity).

Bounded twice — by attempt count and by a wall-clock deadline — so an outage
surfaces as a clear error within a minute instead of hanging ``pulumi up``.
Retries cover failures that are plausibly transient: connection problems, read
timeouts, dropped connections, 408, 429 (honouring ``Retry-After``) and 5xx
other than 501/505. Other 4xx are the caller's fault and fail at once.

Idempotency: ``regenerate-token`` is NOT idempotent, but retrying it is safe in
the way that matters: if the server applied a regenerate and the response was
lost, the retry simply mints a newer token; the lost one was never handed out
and the previous token is dead either way. ``deploy`` is retried only when the
request demonstrably did not reach the application (connect errors, 408, 429,
503), since a duplicate would create a second deployment or change request.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Callable, Optional

import httpx
import tenacity

from .config import HttpSettings

RETRYABLE_STATUSES = frozenset({408, 429}) | frozenset(range(500, 600)) - {501, 505}
# For non-idempotent calls: only statuses that say "request not processed".
SAFE_UNPROCESSED_STATUSES = frozenset({408, 429, 503})


class RetryableStatus(Exception):
    """Internal signal: the server answered with a retryable status.

    Holds only status, a short (already scrubbed) message and Retry-After; it
    never escapes the client, which converts the final one into a BrmsError.
    """

    def __init__(self, status: int, retry_after: Optional[float], error: Optional[str], message: str) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.retry_after = retry_after
        self.error = error
        self.message = message


def parse_retry_after(value: Optional[str], now: Optional[datetime] = None) -> Optional[float]:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date)."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isdigit():
        return float(int(text))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    current = now or datetime.now(timezone.utc)
    return max(0.0, (when - current).total_seconds())


def is_transient(exc: BaseException, idempotent: bool) -> bool:
    """Whether ``exc`` (from one attempt) warrants another attempt."""
    if isinstance(exc, RetryableStatus):
        return idempotent or exc.status in SAFE_UNPROCESSED_STATUSES
    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)):
        return True  # the request never reached the server
    if isinstance(exc, (httpx.ReadTimeout, httpx.WriteTimeout, httpx.ReadError,
                        httpx.WriteError, httpx.RemoteProtocolError, httpx.CloseError)):
        return idempotent
    return False


def is_ambiguous(exc: BaseException) -> bool:
    """Whether a failed attempt may still have been applied by the server (its answer lost):
    the request was sent, and no answer said it was not processed."""
    if isinstance(exc, RetryableStatus):
        return status_may_have_applied(exc.status)
    return isinstance(exc, (httpx.ReadTimeout, httpx.WriteTimeout, httpx.ReadError, httpx.WriteError,
                            httpx.RemoteProtocolError, httpx.CloseError))


def status_may_have_applied(status: Optional[int]) -> bool:
    """The one rule for "may the BRMS have acted on a request that failed": no answer at all
    (None), or a retryable error status that does not say "not processed" (so a 5xx other
    than 503; never 408 or 429). The deploy outcome (``deploys``) reads it too."""
    return status is None or (status in RETRYABLE_STATUSES and status not in SAFE_UNPROCESSED_STATUSES)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, capped by attempts and a deadline."""

    # The defaults are the documented GORULES_RETRY_* defaults, kept in one place.
    max_attempts: int = HttpSettings.max_attempts
    deadline: float = HttpSettings.deadline
    initial_backoff: float = 0.5
    max_backoff: float = 8.0
    jitter: float = 0.5
    retry_after_cap: float = 20.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)

    def backoff(self, attempt_number: int, exc: Optional[BaseException]) -> float:
        """Seconds to wait before attempt ``attempt_number + 1``."""
        if isinstance(exc, RetryableStatus) and exc.retry_after is not None:
            return min(max(exc.retry_after, 0.0), self.retry_after_cap)
        base = min(self.max_backoff, self.initial_backoff * (2 ** (attempt_number - 1)))
        return base + random.uniform(0, self.jitter)

    def retrying(self, idempotent: bool) -> tenacity.Retrying:
        """A tenacity controller; ``reraise`` surfaces the last real exception."""

        def wait(state: tenacity.RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            return self.backoff(state.attempt_number, exc)

        return tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.max_attempts) | tenacity.stop_before_delay(self.deadline),
            wait=wait,
            retry=tenacity.retry_if_exception(lambda e: is_transient(e, idempotent)),
            reraise=True,
            sleep=self.sleep,
        )

"""Fault injection for tests and benchmarks: delays, error statuses, Retry-After, drops.

A rule matches a method and a route template (or a path glob). When it fires it can
delay the request, answer with an injected status (optionally with ``Retry-After``)
instead of or after running the handler, or abort the TCP connection with no HTTP
response, before the handler ran or after it committed its change (the nasty case a
client cannot tell from a lost request). Faults never apply to ``/_localbrms/*`` or
``/api/health``. Rules live in memory: a restart clears them.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import logging
import random
import threading
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gorules_tokens_localbrms.connections import connection_of
from gorules_tokens_localbrms.errors import error_body
from gorules_tokens_localbrms.ids import new_id
from gorules_tokens_localbrms.routing import HEALTH_PATH, is_admin_path, template_of

log = logging.getLogger("gorules_tokens_localbrms.faults")
DRAIN_TIMEOUT_S = 5.0


class FaultRuleIn(BaseModel):
    """The JSON body of ``POST /_localbrms/faults`` (camelCase)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    method: str = "*"
    route: str | None = None
    path: str | None = None
    status: int | None = Field(default=None, ge=100, le=599)
    retry_after: int | str | None = Field(default=None, alias="retryAfter")
    message: str | None = None
    delay_ms: int = Field(default=0, ge=0, le=120_000, alias="delayMs")
    drop: bool = False
    when: Literal["before", "after"] | None = None
    times: int | None = Field(default=None, ge=1)
    skip: int = Field(default=0, ge=0)
    probability: float = Field(default=1.0, ge=0.0, le=1.0)
    seed: int | None = None

    @model_validator(mode="after")
    def _consistent(self) -> FaultRuleIn:
        if self.route is not None and self.path is not None:
            raise ValueError("give either route or path, not both")
        if self.drop and (self.status is not None or self.retry_after is not None):
            raise ValueError("drop cannot be combined with status or retryAfter")
        if self.retry_after is not None and self.status is None:
            self.status = 429
        if not self.drop and self.status is None and self.delay_ms == 0:
            raise ValueError("rule does nothing: set status, retryAfter, drop or delayMs")
        if self.when is None:
            self.when = "after" if self.drop else "before"
        self.method = self.method.upper()
        return self


@dataclass
class FaultRule:
    """A stored rule with its counters."""

    id: str
    spec: FaultRuleIn
    rng: random.Random
    matched: int = 0
    applied: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def matches(self, method: str, template: str, path: str) -> bool:
        if self.spec.method not in ("*", method):
            return False
        if self.spec.route is not None:
            return self.spec.route == template
        if self.spec.path is not None:
            return fnmatch.fnmatchcase(path, self.spec.path)
        return True

    @property
    def exhausted(self) -> bool:
        return self.spec.times is not None and self.applied >= self.spec.times

    def fire(self) -> bool:
        """Count a match; True when this request gets the fault."""
        with self.lock:
            if self.exhausted:
                return False
            self.matched += 1
            if self.matched <= self.spec.skip or self.rng.random() >= self.spec.probability:
                return False
            self.applied += 1
            return True

    def describe(self) -> dict[str, Any]:
        body = self.spec.model_dump(by_alias=True)
        remaining = None if self.spec.times is None else max(self.spec.times - self.applied, 0)
        return {
            "id": self.id,
            **body,
            "matched": self.matched,
            "applied": self.applied,
            "remaining": remaining,
            "active": not self.exhausted,
        }


class FaultRegistry:
    """The active rules, in insertion order; the first rule that fires wins."""

    def __init__(self) -> None:
        self._rules: list[FaultRule] = []
        self._lock = threading.Lock()
        # Set by clear(): requests still sitting in a rule's delay go on at once, so a test can
        # hold a request for "as long as it takes" and release it on an event, not a margin.
        self.cleared = asyncio.Event()

    def add(self, spec: FaultRuleIn) -> FaultRule:
        rule = FaultRule(new_id(), spec, random.Random(spec.seed))
        with self._lock:
            self._rules.append(rule)
        return rule

    def remove(self, rule_id: str) -> bool:
        with self._lock:
            before = len(self._rules)
            self._rules = [r for r in self._rules if r.id != rule_id]
            return len(self._rules) != before

    def clear(self) -> int:
        with self._lock:
            count = len(self._rules)
            self._rules = []
        self.cleared.set()
        self.cleared = asyncio.Event()
        return count

    def list(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    def pick(self, method: str, template: str, path: str) -> FaultRule | None:
        for rule in self.list():
            if rule.matches(method, template, path) and rule.fire():
                return rule
        return None


def exempt(path: str) -> bool:
    return is_admin_path(path) or path == HEALTH_PATH


class FaultMiddleware:
    """Applies the first firing rule to a request (inside the metrics layer)."""

    def __init__(self, app: ASGIApp, registry: FaultRegistry) -> None:
        self.app = app
        self.registry = registry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or exempt(scope["path"]):
            await self.app(scope, receive, send)
            return
        rule = self.registry.pick(scope["method"], template_of(scope), scope["path"])
        if rule is None:
            await self.app(scope, receive, send)
            return
        spec = rule.spec
        if spec.delay_ms:
            try:
                await asyncio.wait_for(self.registry.cleared.wait(), timeout=spec.delay_ms / 1000)
            except asyncio.TimeoutError:
                pass
        if not spec.drop and spec.status is None:
            await self.app(scope, receive, send)
            return
        if spec.when == "after":
            await self.app(scope, receive, _discard)  # the handler commits; its answer is lost
        if spec.drop:
            await _drop(scope, receive)
        else:
            await _send_status(send, spec)


async def _discard(_: Message) -> None:
    return None


async def _send_status(send: Send, spec: FaultRuleIn) -> None:
    status = spec.status or 500
    body = json.dumps(
        error_body(status, spec.message or f"Injected fault ({status})"), separators=(",", ":")
    ).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if spec.retry_after is not None:
        headers.append((b"retry-after", str(spec.retry_after).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _drop(scope: Scope, receive: Receive) -> None:
    """Abort the TCP connection (RST, no HTTP response) and wait until uvicorn notices."""
    record = connection_of(scope)
    if record is None:
        raise RuntimeError("drop fault needs the localbrms uvicorn protocol (python -m gorules_tokens_localbrms serve)")
    record.abort()

    async def drain() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    try:
        await asyncio.wait_for(drain(), DRAIN_TIMEOUT_S)
    except TimeoutError:
        log.warning("connection %s did not report a disconnect after abort", record.id)

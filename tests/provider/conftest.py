"""Fixtures for the provider tests: clean env, an in-memory BRMS, provider factory."""

from __future__ import annotations

import json
import re
import secrets
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Optional

import httpx
import pytest

from gorules_tokens.config import HttpSettings
from gorules_tokens.process import ProcessState, reset_process_state
from gorules_tokens.provider import EnvironmentTokenProvider
from gorules_tokens.retry import RetryPolicy
from support.provider_calls import checked_props

FAKE_URL = "https://brms.test"


@pytest.fixture(autouse=True)
def _isolated_provider_env(monkeypatch: pytest.MonkeyPatch):
    """No ambient GORULES_* settings leak into a test; process state is fresh."""
    for name in ("GORULES_URL", "GORULES_TOKEN", "GORULES_HTTP_TIMEOUT", "GORULES_RETRY_ATTEMPTS",
                 "GORULES_RETRY_DEADLINE"):
        monkeypatch.delenv(name, raising=False)
    reset_process_state()
    yield
    reset_process_state()


class FakeClock:
    def __init__(self, start: datetime = datetime(2025, 1, 1, 12, 0, 0, tzinfo=timezone.utc)) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


class RecordingSleep:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def sleeps() -> RecordingSleep:
    return RecordingSleep()


@dataclass
class Fault:
    method: str
    pattern: str
    status: Optional[int] = None
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    exc: Optional[Exception] = None
    times: int = 1


def new_token() -> str:
    return "envtok_" + secrets.token_hex(16)


class FakeBRMS:
    """Just enough of the BRMS wire format, in memory, behind httpx.MockTransport."""

    def __init__(self) -> None:
        self.pat = "pat_" + secrets.token_hex(16)
        self.project_id = str(uuid.uuid4())
        self.release_id = str(uuid.uuid4())
        self.lock = threading.Lock()
        self.calls: list[tuple[str, str]] = []
        self.faults: list[Fault] = []
        self.hide_tokens = False
        self.project_exists = True
        self.deploys: list[dict[str, Any]] = []
        self.envs: dict[str, dict[str, Any]] = {}
        self.staging = self.add_env("Staging", "staging", "brms", release=True)
        self.production = self.add_env("Production", "production", "deployment", release=True)

    def add_env(self, name: str, key: str, type_: str, *, release: bool, approval: Optional[str] = None) -> str:
        env_id = str(uuid.uuid4())
        self.envs[env_id] = {
            "id": env_id, "name": name, "key": key, "type": type_, "projectId": self.project_id,
            "accessToken": new_token(), "releaseId": self.release_id if release else None,
            "approvalMode": approval, "deploymentId": None, "addToWorkflow": False,
            "requiredReviewers": False, "createdAt": "2025-01-01T00:00:00Z", "updatedAt": "2025-01-01T00:00:00Z",
            "deletedAt": None,
        }
        return env_id

    def token(self, env_id: str) -> str:
        return self.envs[env_id]["accessToken"]

    def count(self, method: str, suffix: str) -> int:
        return sum(1 for m, p in self.calls if m == method and p.endswith(suffix))

    def fault(self, method: str, pattern: str, **kw: Any) -> None:
        self.faults.append(Fault(method, pattern, **kw))

    def _take_fault(self, method: str, path: str) -> Optional[Fault]:
        for f in self.faults:
            if f.method == method and re.search(f.pattern, path) and f.times > 0:
                f.times -= 1
                return f
        return None

    @staticmethod
    def _error(status: int, message: str) -> httpx.Response:
        phrase = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found"}.get(status, "Error")
        return httpx.Response(status, json={"statusCode": status, "error": phrase, "message": message})

    def handler(self, request: httpx.Request) -> httpx.Response:
        method, path = request.method, request.url.path
        with self.lock:
            self.calls.append((method, path))
            fault = self._take_fault(method, path)
        if fault is not None:
            if fault.exc is not None:
                raise fault.exc
            if fault.body is not None:
                return httpx.Response(fault.status or 500, headers=fault.headers, json=fault.body)
            return httpx.Response(fault.status or 500, headers=fault.headers,
                                  json={"statusCode": fault.status, "error": "Injected", "message": "injected fault"})
        if request.headers.get("authorization") != f"Bearer {self.pat}":
            return self._error(401, "Unauthorized")
        m = re.fullmatch(r"/api/projects/([^/]+)/environments", path)
        if m and method == "GET":
            if m.group(1) != self.project_id or not self.project_exists:
                return self._error(404, "Project not found")
            with self.lock:
                items = [dict(e) for e in self.envs.values() if not e["deletedAt"]]
            if self.hide_tokens:
                for item in items:
                    item["accessToken"] = None
            return httpx.Response(200, json=items)
        m = re.fullmatch(r"/api/projects/([^/]+)/environments/([^/]+)/regenerate-token", path)
        if m and method == "POST":
            env = self.envs.get(m.group(2))
            if m.group(1) != self.project_id or env is None or env["deletedAt"]:
                return self._error(404, "Environment not found")
            with self.lock:
                env["accessToken"] = new_token()
            return httpx.Response(200, json=dict(env))
        m = re.fullmatch(r"/api/projects/([^/]+)/releases/deploy", path)
        if m and method == "POST":
            body = json.loads(request.content)
            env = self.envs.get(body.get("environmentId"))
            if env is None:
                return self._error(404, "Environment not found")
            with self.lock:
                self.deploys.append(body)
            if env["approvalMode"] not in (None, "none"):
                return httpx.Response(200, json={"id": "cr-" + secrets.token_hex(4), "type": "deployment",
                                                 "status": "open"})
            return httpx.Response(200, json={"status": "deployed", "releaseId": body["releaseId"],
                                             "environmentId": env["id"]})
        return self._error(404, f"Route {method}:{path} not found")

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)


@pytest.fixture
def fake_brms() -> FakeBRMS:
    return FakeBRMS()


def fast_policy(sleep: Callable[[float], None]) -> RetryPolicy:
    return RetryPolicy(max_attempts=4, deadline=30.0, initial_backoff=0.01, max_backoff=0.02, jitter=0.0, sleep=sleep)


@pytest.fixture
def fast_retry_policy(sleeps: RecordingSleep) -> RetryPolicy:
    return fast_policy(sleeps)


@pytest.fixture
def fake_url() -> str:
    return FAKE_URL


@pytest.fixture
def make_provider(monkeypatch: pytest.MonkeyPatch, fake_brms: FakeBRMS, clock: FakeClock, sleeps: RecordingSleep):
    """Provider wired to the in-memory BRMS through env-var credentials."""
    monkeypatch.setenv("GORULES_URL", FAKE_URL)
    monkeypatch.setenv("GORULES_TOKEN", fake_brms.pat)
    states: list[ProcessState] = []

    def factory() -> EnvironmentTokenProvider:
        """One provider process, i.e. one operation: its own list cache."""
        state = ProcessState(http_settings=HttpSettings(), policy=fast_policy(sleeps), transport=fake_brms.transport)
        states.append(state)
        return EnvironmentTokenProvider(state=state, clock=clock)

    yield factory
    for state in states:
        state.close()


@pytest.fixture
def props_for():
    return checked_props

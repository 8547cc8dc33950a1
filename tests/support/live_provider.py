"""Fixtures for provider tests over real HTTP against one localbrms per test module.

Import the fixtures into a test module (``from support.live_provider import ...``): the
server is module-scoped, each test seeds its own project and starts with no faults, fresh
metrics and the ``current`` deploy mode.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from gorules_tokens.process import ProcessState
from gorules_tokens.provider import EnvironmentTokenProvider
from gorules_tokens.retry import RetryPolicy
from gorules_tokens_localbrms.testing import LocalBRMSServer


@pytest.fixture(scope="module")
def live_brms(tmp_path_factory):
    db = tmp_path_factory.mktemp("localbrms") / "brms.db"
    with LocalBRMSServer(db, pat="admin_pat_" + "x" * 24) as server:
        yield server


@pytest.fixture
def brms(live_brms):
    live_brms.clear_faults()
    live_brms.reset_metrics()
    live_brms.set_deploy_mode("current")
    return live_brms


@pytest.fixture
def seeded(brms) -> dict[str, Any]:
    data = brms.seed()
    data["env"] = {e["key"]: e for e in data["environments"]}
    return data


@pytest.fixture
def make_live_provider(brms, monkeypatch):
    states: list[ProcessState] = []

    def factory(pat: str | None = None, **policy: Any) -> EnvironmentTokenProvider:
        monkeypatch.setenv("GORULES_URL", brms.url + "/api/")  # trailing /api and slash are tolerated
        monkeypatch.setenv("GORULES_TOKEN", pat or brms.pat)
        kw = {"max_attempts": 4, "deadline": 20.0, "initial_backoff": 0.01, "max_backoff": 0.05, "jitter": 0.01}
        kw.update(policy)
        state = ProcessState(policy=RetryPolicy(**kw))
        states.append(state)
        return EnvironmentTokenProvider(state=state)

    yield factory
    for state in states:
        state.close()


def admin(brms: LocalBRMSServer, method: str, path: str, **kw: Any) -> httpx.Response:
    return httpx.request(method, brms.url + path, headers={"Authorization": f"Bearer {brms.pat}"}, timeout=10, **kw)

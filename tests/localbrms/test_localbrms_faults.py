"""Fault rules: injected status, Retry-After, delay, drop before/after commit, N times, probability."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import httpx
import pytest

from gorules_tokens_localbrms.testing import ENVIRONMENTS_ROUTE, REGENERATE_ROUTE, LocalBRMSServer

if TYPE_CHECKING:
    from conftest import Demo


def _token(demo: Demo, env_id: str) -> str:
    return str(next(e for e in demo.list_envs() if e["id"] == env_id)["accessToken"])


def test_status_for_next_n_requests(demo: Demo, brms: LocalBRMSServer) -> None:
    env = demo.staging
    rule = brms.add_fault(method="POST", route=REGENERATE_ROUTE, status=503, times=2)
    assert rule["active"] and rule["remaining"] == 2
    for _ in range(2):
        response = demo.regenerate(env["id"])
        assert response.status_code == 503
        assert response.json() == {
            "statusCode": 503,
            "error": "Service Unavailable",
            "message": "Injected fault (503)",
        }
    assert _token(demo, env["id"]) == env["accessToken"]  # "before": the handler did not run
    assert demo.regenerate(env["id"]).status_code == 200
    listed = brms.faults()
    assert listed[0]["applied"] == 2 and listed[0]["remaining"] == 0 and listed[0]["active"] is False


def test_retry_after(demo: Demo, brms: LocalBRMSServer) -> None:
    brms.add_fault(method="POST", route=REGENERATE_ROUTE, retry_after=2, times=1)
    response = demo.regenerate(demo.staging["id"])
    assert response.status_code == 429  # the default status with retryAfter
    assert response.headers["Retry-After"] == "2"
    brms.add_fault(method="POST", route=REGENERATE_ROUTE, status=503, retry_after="5", times=1)
    response = demo.regenerate(demo.staging["id"])
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"


def test_delay(demo: Demo, brms: LocalBRMSServer) -> None:
    brms.add_fault(method="GET", route=ENVIRONMENTS_ROUTE, delay_ms=400, times=1)
    start = time.monotonic()
    assert demo.client.get(demo.envs_path()).status_code == 200
    assert time.monotonic() - start >= 0.4  # a lower bound: no machine makes a delay shorter
    assert demo.client.get(demo.envs_path()).status_code == 200
    # The second request was not delayed: the rule's own count says so, not a stopwatch.
    [rule] = brms.faults()
    assert rule["applied"] == 1 and rule["remaining"] == 0 and rule["active"] is False


def test_drop_after_commit(demo: Demo, brms: LocalBRMSServer) -> None:
    env = demo.staging
    brms.add_fault(method="POST", route=REGENERATE_ROUTE, drop=True, times=1)
    with pytest.raises(httpx.TransportError):
        demo.regenerate(env["id"])
    new = _token(demo, env["id"])
    assert new != env["accessToken"]  # the change was applied although no answer came
    assert demo.evaluate(env["id"], env["accessToken"]).status_code == 401
    assert demo.evaluate(env["id"], new).status_code == 200


def test_drop_before_handler(demo: Demo, brms: LocalBRMSServer) -> None:
    env = demo.staging
    brms.add_fault(method="POST", route=REGENERATE_ROUTE, drop=True, when="before", times=1)
    with pytest.raises(httpx.TransportError):
        demo.regenerate(env["id"])
    assert _token(demo, env["id"]) == env["accessToken"]


def test_status_after_commit(demo: Demo, brms: LocalBRMSServer) -> None:
    env = demo.staging
    brms.add_fault(method="POST", route=REGENERATE_ROUTE, status=502, when="after", times=1)
    assert demo.regenerate(env["id"]).status_code == 502
    assert _token(demo, env["id"]) != env["accessToken"]


def test_skip_path_glob_and_method(demo: Demo, brms: LocalBRMSServer) -> None:
    brms.add_fault(method="GET", path="/api/projects/*/environments", status=500, skip=1, times=1)
    assert (
        demo.client.post(demo.envs_path(), json={"name": "x", "type": "brms"}).status_code == 201
    )  # POST: no
    assert demo.client.get(demo.envs_path()).status_code == 200  # skipped
    assert demo.client.get(demo.envs_path()).status_code == 500
    assert demo.client.get(demo.envs_path()).status_code == 200


def test_probability(demo: Demo, brms: LocalBRMSServer) -> None:
    brms.add_fault(method="GET", route=ENVIRONMENTS_ROUTE, status=503, probability=0.5, seed=7)
    statuses = [demo.client.get(demo.envs_path()).status_code for _ in range(40)]
    assert 5 < statuses.count(503) < 35 and statuses.count(200) + statuses.count(503) == 40
    brms.clear_faults()
    brms.add_fault(method="GET", route=ENVIRONMENTS_ROUTE, status=503, probability=0.0)
    assert all(demo.client.get(demo.envs_path()).status_code == 200 for _ in range(5))


def test_faults_never_hit_health_or_admin(brms: LocalBRMSServer, api: httpx.Client) -> None:
    brms.add_fault(path="*", status=503)
    brms.add_fault(path="/*", drop=True, when="before")
    assert api.get("/api/health").status_code == 200
    assert api.get("/_localbrms/metrics").status_code == 200
    assert api.get("/api/projects").status_code == 503
    brms.clear_faults()
    assert brms.faults() == []
    assert api.get("/api/projects").status_code == 200


def test_rule_validation_and_delete(brms: LocalBRMSServer, api: httpx.Client) -> None:
    for bad in (
        {"drop": True, "status": 500},
        {"method": "GET"},
        {"status": 99},
        {"status": 500, "bogus": 1},
        {"status": 500, "route": "/a", "path": "/b"},
        {"status": 500, "probability": 2},
    ):
        response = api.post("/_localbrms/faults", json=bad)
        assert response.status_code == 400, bad
    rule = brms.add_fault(route="/api/projects", status=500)
    assert api.delete(f"/_localbrms/faults/{rule['id']}").status_code == 200
    assert api.delete(f"/_localbrms/faults/{rule['id']}").status_code == 404
    assert api.delete("/_localbrms/faults").json() == {"cleared": 0}


def test_clearing_the_faults_releases_a_request_held_in_a_delay(demo: Demo, brms: LocalBRMSServer) -> None:
    """A test can hold a request for as long as it needs and release it on an event."""
    import threading

    brms.add_fault(method="GET", route=ENVIRONMENTS_ROUTE, delay_ms=120_000, times=1)
    answers: list[int] = []
    held = threading.Thread(target=lambda: answers.append(demo.client.get(demo.envs_path(), timeout=180).status_code))
    held.start()
    deadline = time.monotonic() + 60
    while brms.faults()[0]["applied"] == 0:  # bounded poll: the request has reached its delay
        assert time.monotonic() < deadline, "the request never reached the fault"
        time.sleep(0.02)
    assert answers == [] and held.is_alive()
    brms.clear_faults()
    held.join(timeout=60)
    assert not held.is_alive() and answers == [200]

"""Metrics: counts by method/route template/status, and real TCP-connection reuse."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import httpx
import pytest

from gorules_tokens_localbrms.testing import ENVIRONMENTS_ROUTE, REGENERATE_ROUTE, LocalBRMSServer

if TYPE_CHECKING:
    from conftest import Demo


@pytest.fixture
def fresh(brms: LocalBRMSServer) -> LocalBRMSServer:
    """The session server with metrics reset; these tests must not run concurrently."""
    brms.reset_metrics()
    return brms


def test_counts_by_route_template_and_status(demo: Demo, fresh: LocalBRMSServer) -> None:
    demo.list_envs()
    demo.list_envs()
    demo.regenerate(demo.staging["id"])
    demo.client.get("/api/projects/not-a-uuid")
    demo.client.get("/no/such/route")
    metrics = fresh.metrics()
    rows = {(r["method"], r["route"], r["status"]): r["count"] for r in metrics["requests"]["byRoute"]}
    assert rows == {
        ("GET", ENVIRONMENTS_ROUTE, 200): 2,
        ("POST", REGENERATE_ROUTE, 200): 1,
        ("GET", "/api/projects/{projectId}", 400): 1,
        ("GET", "(unmatched)", 404): 1,
    }
    assert metrics["requests"]["total"] == 5
    assert fresh.request_count("GET", ENVIRONMENTS_ROUTE) == 2
    fresh.reset_metrics()
    assert fresh.metrics()["requests"] == {"total": 0, "byRoute": []}


def test_keep_alive_reuse_is_visible(demo: Demo, fresh: LocalBRMSServer) -> None:
    headers = {"Authorization": f"Bearer {fresh.pat}"}
    with httpx.Client(base_url=fresh.url, headers=headers) as client:
        for _ in range(5):
            assert client.get(demo.envs_path()).status_code == 200
        assert fresh.metrics()["connections"]["open"] == 1
    conns = fresh.metrics()["connections"]
    assert conns["opened"] == 1
    assert conns["requestsOnNewConnections"] == 1 and conns["requestsOnReusedConnections"] == 4

    fresh.reset_metrics()
    for _ in range(3):
        with httpx.Client(base_url=fresh.url, headers=headers) as client:
            client.get(demo.envs_path())
    deadline = time.monotonic() + 5
    while fresh.metrics()["connections"]["open"] and time.monotonic() < deadline:
        time.sleep(0.02)
    conns = fresh.metrics()["connections"]
    assert conns["opened"] == 3 and conns["requestsOnReusedConnections"] == 0
    assert conns["closed"] == 3 and conns["open"] == 0


def test_connection_close_header_forces_new_connections(demo: Demo, fresh: LocalBRMSServer) -> None:
    headers = {"Authorization": f"Bearer {fresh.pat}", "Connection": "close"}
    with httpx.Client(base_url=fresh.url, headers=headers) as client:
        for _ in range(3):
            client.get(demo.envs_path())
    assert fresh.metrics()["connections"]["opened"] == 3


def test_dropped_requests_count_with_status_0(demo: Demo, fresh: LocalBRMSServer) -> None:
    fresh.add_fault(method="POST", route=REGENERATE_ROUTE, drop=True, times=1)
    with pytest.raises(httpx.TransportError):
        demo.regenerate(demo.staging["id"])
    assert fresh.request_count("POST", REGENERATE_ROUTE, status=0) == 1


def test_admin_calls_are_not_counted(fresh: LocalBRMSServer) -> None:
    for _ in range(3):
        fresh.metrics()
    metrics = fresh.metrics()
    assert metrics["requests"]["total"] == 0
    assert metrics["connections"]["opened"] == 0

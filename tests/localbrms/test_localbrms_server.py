"""Server lifecycle: persistence across restart, subprocess cleanup, concurrency."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from gorules_tokens_localbrms.testing import REGENERATE_ROUTE, LocalBRMSError, LocalBRMSServer, run_server


def test_restart_keeps_data(tmp_path: Path) -> None:
    with LocalBRMSServer(tmp_path / "restart.db", pat="restart-admin-pat") as server:
        demo = server.seed()
        pat = server.create_pat(["environments:manage"])
        env = demo["environments"][0]
        headers = {"Authorization": f"Bearer {pat}"}
        base = f"/api/projects/{demo['projectId']}/environments"
        new = httpx.post(f"{server.url}{base}/{env['id']}/regenerate-token", headers=headers).json()[
            "accessToken"
        ]
        server.add_fault(route=REGENERATE_ROUTE, status=500)
        url, pid = server.url, server.process.pid  # type: ignore[union-attr]

        server.restart()

        assert server.url == url and server.process.pid != pid  # type: ignore[union-attr]
        listed = httpx.get(f"{server.url}{base}", headers=headers).json()  # PAT survived too
        assert next(e for e in listed if e["id"] == env["id"])["accessToken"] == new
        assert server.faults() == []  # faults and metrics are in memory only
        evaluated = httpx.post(
            f"{server.url}{base}/{env['id']}/evaluate/shipping",
            json={"context": {"weight": 1, "country": "US"}},
            headers={"X-Access-Token": new},
        )
        assert evaluated.status_code == 200
        process = server.process
    assert process is not None and process.poll() is not None
    assert not server.running


def test_run_server_and_start_failure(tmp_path: Path) -> None:
    server = run_server(tmp_path / "rs.db")
    try:
        assert httpx.get(f"{server.url}/api/health").status_code == 200
        clash = LocalBRMSServer(tmp_path / "clash.db", port=server.port, startup_timeout=10)
        with pytest.raises(LocalBRMSError):
            clash.start()
        assert not clash.running
    finally:
        server.stop()


def test_100_concurrent_regenerates(brms: LocalBRMSServer) -> None:
    """100 regenerate calls released at once over 100 environments: 100 distinct working tokens."""
    demo = brms.seed()
    project = demo["projectId"]
    base = f"{brms.url}/api/projects/{project}/environments"
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    with (
        httpx.Client(headers={"Authorization": f"Bearer {brms.pat}"}, limits=limits, timeout=60) as client,
        ThreadPoolExecutor(max_workers=100) as pool,
    ):

        def make(i: int) -> str:
            env = client.post(base, json={"name": f"Load {i}", "type": "brms"}).json()
            deployed = client.post(
                f"{brms.url}/api/projects/{project}/releases/deploy",
                json={"releaseId": demo["releaseId"], "environmentId": env["id"]},
            )
            assert deployed.status_code == 200
            return str(env["id"])

        env_ids = list(pool.map(make, range(100)))
        old = {e["id"]: e["accessToken"] for e in client.get(base).json()}
        barrier = threading.Barrier(100)
        # The burst goes out on fresh connections: a pooled one left idle past the server's
        # keep-alive while the threads gather can be closed under the request (a reset that
        # says nothing about the server's concurrency).
        burst = httpx.Client(headers={"Authorization": f"Bearer {brms.pat}"}, limits=limits, timeout=60)

        def regenerate(env_id: str) -> httpx.Response:
            barrier.wait(timeout=30)
            return burst.post(f"{base}/{env_id}/regenerate-token")

        with burst:
            responses = list(pool.map(regenerate, env_ids))
        assert [r.status_code for r in responses] == [200] * 100
        tokens = {r.json()["id"]: r.json()["accessToken"] for r in responses}
        assert set(tokens) == set(env_ids)
        assert len(set(tokens.values())) == 100
        assert all(len(t) >= 32 and t != old[i] for i, t in tokens.items())

        listed = {e["id"]: e["accessToken"] for e in client.get(base).json()}
        assert all(listed[i] == t for i, t in tokens.items())

        # Evaluations on connections of their own, never a pooled one: one left idle past the
        # server's keep-alive between the two rounds can be closed under the request (a reset
        # that says nothing about the tokens; seen in CI).
        fresh = httpx.Client(limits=httpx.Limits(max_keepalive_connections=0), timeout=60)

        def status(env_id: str, token: str) -> int:
            response = fresh.post(
                f"{base}/{env_id}/evaluate/shipping",
                json={"context": {"weight": 1, "country": "US"}},
                headers={"X-Access-Token": token},
            )
            return response.status_code

        with fresh:
            assert list(pool.map(status, tokens, tokens.values())) == [200] * 100
            assert list(pool.map(status, env_ids, [old[i] for i in env_ids])) == [401] * 100

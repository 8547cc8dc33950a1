"""``python -m localbrms seed|pat|serve`` as subprocesses, with and without a running server,
and `serve`'s argument defaults in-process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from localbrms.testing import REPO_ROOT, LocalBRMSServer


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "localbrms", *args], capture_output=True, text=True, cwd=REPO_ROOT, timeout=60
    )


def test_seed_while_server_runs(brms: LocalBRMSServer) -> None:
    result = _cli("seed", "--db", str(brms.db_path), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert {"projectId", "decisionKey", "releaseId", "environments"} <= set(data)
    assert data["decisionKey"] == "shipping"
    envs = {e["key"]: e for e in data["environments"]}
    assert {k: (e["name"], e["type"]) for k, e in envs.items()} == {
        "staging": ("Staging", "brms"),
        "production": ("Production", "deployment"),
    }
    for env in envs.values():
        assert {"id", "key", "name", "type"} <= set(env)
    # the running server sees the new data at once
    listed = httpx.get(
        f"{brms.url}/api/projects/{data['projectId']}/environments",
        headers={"Authorization": f"Bearer {brms.pat}"},
    ).json()
    assert {e["id"] for e in listed} == {e["id"] for e in envs.values()}
    assert all(e["releaseId"] == data["releaseId"] for e in listed)
    staging = envs["staging"]
    response = httpx.post(
        f"{brms.url}/api/projects/{data['projectId']}/environments/{staging['id']}/evaluate/shipping",
        json={"context": {"weight": 1, "country": "US"}},
        headers={"X-Access-Token": staging["accessToken"]},
    )
    assert response.json()["result"] == {"fee": 5}


def test_seed_without_server_and_project_key_is_idempotent(tmp_path: Path) -> None:
    db = tmp_path / "offline.db"
    first = _cli("seed", "--db", str(db), "--json", "--project-key", "demo")
    second = _cli("seed", "--db", str(db), "--json", "--project-key", "demo")
    assert first.returncode == second.returncode == 0
    assert json.loads(first.stdout) == json.loads(second.stdout)
    assert json.loads(first.stdout)["projectKey"] == "demo"
    summary = _cli("seed", "--db", str(db))
    assert summary.returncode == 0 and "staging" in summary.stdout


def test_pat_command(brms: LocalBRMSServer) -> None:
    demo = brms.seed()
    result = _cli("pat", "--db", str(brms.db_path), "--permissions", "environments,releases:deploy", "--json")
    assert result.returncode == 0, result.stderr
    pat = json.loads(result.stdout)
    assert pat["permissions"] == ["environments", "releases:deploy"] and len(pat["token"]) >= 32
    headers = {"Authorization": f"Bearer {pat['token']}"}
    base = f"{brms.url}/api/projects/{demo['projectId']}/environments"
    assert httpx.get(base, headers=headers).status_code == 200
    env_id = demo["environments"][0]["id"]
    assert httpx.post(f"{base}/{env_id}/regenerate-token", headers=headers).status_code == 403

    plain = _cli("pat", "--db", str(brms.db_path), "--permissions", "owner", "--projects", demo["projectId"])
    assert plain.returncode == 0 and len(plain.stdout.strip()) >= 32
    assert _cli("pat", "--db", str(brms.db_path), "--permissions", "fly").returncode == 2
    assert _cli("pat", "--db", str(brms.db_path), "--permissions", "owner", "--projects", "x").returncode == 2


def test_serve_announces_the_port(brms: LocalBRMSServer) -> None:
    assert f"localbrms listening on {brms.url}" in brms.log_path.read_text()


def test_serve_requires_a_pat(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "localbrms", "serve", "--db", str(tmp_path / "x.db")],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 2


def test_serve_polls_at_the_agents_default_interval(tmp_path: Path, monkeypatch) -> None:
    """Without ``--agent-poll-interval`` the Agent polls at GoRules' default, kept in one place
    (``localbrms.agent``); an explicit value still wins."""
    import localbrms.server
    from localbrms import cli
    from localbrms.agent import DEFAULT_POLL_INTERVAL_S

    started: list[Any] = []
    monkeypatch.setattr(localbrms.server, "serve", lambda *args: started.append(args[-1]))
    base = ["serve", "--db", str(tmp_path / "x.db"), "--pat", "admin-pat", "--agent-port", "0"]
    assert cli.main(base) == 0 and cli.main([*base, "--agent-poll-interval", "0.5"]) == 0
    assert [agent.poll_interval for agent in started] == [DEFAULT_POLL_INTERVAL_S, 0.5]

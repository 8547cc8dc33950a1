"""``python -m gorules_tokens_localbrms seed|pat|serve`` as subprocesses, with and without a running
server and from a folder outside the repo, the console script's help, what it says without the
`localbrms` extra, and `serve`'s argument defaults in-process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from gorules_tokens_localbrms.cli import EXTRA_MODULES, PROG
from gorules_tokens_localbrms.testing import LocalBRMSServer

CONSOLE_SCRIPT = Path(sys.executable).with_name(PROG)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Run from outside the repo: the package is found as installed, not from the working folder."""
    return subprocess.run(
        [sys.executable, "-m", "gorules_tokens_localbrms", *args], capture_output=True, text=True, cwd="/", timeout=60
    )


def _python(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=60)


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
        [sys.executable, "-m", "gorules_tokens_localbrms", "serve", "--db", str(tmp_path / "x.db")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 2


def test_serve_polls_at_the_agents_default_interval(tmp_path: Path, monkeypatch) -> None:
    """Without ``--agent-poll-interval`` the Agent polls at GoRules' default, kept in one place
    (``gorules_tokens_localbrms.agent``); an explicit value still wins."""
    import gorules_tokens_localbrms.server
    from gorules_tokens_localbrms import cli
    from gorules_tokens_localbrms.agent import DEFAULT_POLL_INTERVAL_S

    started: list[Any] = []
    monkeypatch.setattr(gorules_tokens_localbrms.server, "serve", lambda *args: started.append(args[-1]))
    base = ["serve", "--db", str(tmp_path / "x.db"), "--pat", "admin-pat", "--agent-port", "0"]
    assert cli.main(base) == 0 and cli.main([*base, "--agent-poll-interval", "0.5"]) == 0
    assert [agent.poll_interval for agent in started] == [DEFAULT_POLL_INTERVAL_S, 0.5]


# -- issue 26, item 7: the project's own name, a help that describes it, the extra named -------


def test_console_script_help_describes_the_commands_and_exit_codes(tmp_path: Path) -> None:
    result = subprocess.run([str(CONSOLE_SCRIPT), "--help"], capture_output=True, text=True, cwd=tmp_path, timeout=60)

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: {PROG} ")
    for command in ("serve", "seed", "pat", "deployment"):
        assert f"\n    {command}" in result.stdout, command
    assert "exit codes:" in result.stdout and "gorules-tokens[localbrms]" in result.stdout
    assert "python -m localbrms" not in result.stdout  # it used to point at itself by its old name


def test_serve_help_states_its_defaults() -> None:
    result = _cli("serve", "--help")
    assert result.returncode == 0, result.stderr
    for default in ("127.0.0.1", "8080", "warning", "(default: 5)", "$LOCALBRMS_PAT"):
        assert default in result.stdout, default


def test_the_generic_top_level_name_is_gone(tmp_path: Path) -> None:
    result = _python("import localbrms", tmp_path)
    assert result.returncode == 1 and "No module named 'localbrms'" in result.stderr


def test_serve_without_the_extra_says_which_extra_in_one_line(tmp_path: Path) -> None:
    """As if `pip install gorules-tokens` without `[localbrms]`: it failed with
    `ModuleNotFoundError: No module named 'zen'` under a traceback."""
    blocked = "; ".join(f"sys.modules[{name!r}] = None" for name in sorted(EXTRA_MODULES))
    code = (f"import sys; {blocked}; from gorules_tokens_localbrms.cli import main; "
            f"raise SystemExit(main(['serve', '--db', 'x.db', '--pat', 'admin']))")

    result = _python(code, tmp_path)

    assert result.returncode == 2
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "'localbrms' extra" in result.stderr and "pip install 'gorules-tokens[localbrms]'" in result.stderr


def test_a_missing_module_of_its_own_keeps_its_traceback(tmp_path: Path) -> None:
    """Only the extra's modules are reported as the extra missing; a broken install of ours is not."""
    code = ("import sys; sys.modules['gorules_tokens_localbrms.server'] = None; "
            "from gorules_tokens_localbrms.cli import main; "
            "raise SystemExit(main(['serve', '--db', 'x.db', '--pat', 'admin']))")

    result = _python(code, tmp_path)

    assert result.returncode == 1
    assert "Traceback" in result.stderr and "gorules_tokens_localbrms.server" in result.stderr

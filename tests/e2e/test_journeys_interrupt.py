"""Issue 12, journey 8 through the real engine: an `up` interrupted during creates (SIGINT,
or SIGKILL of the CLI and its plugins) and the recovery the README documents."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from gorules_tokens_localbrms.testing import REGENERATE_ROUTE
from support import plans, state
from support.brms import evaluate, live_token, stack_resources

pytestmark = pytest.mark.engine

ENVIRONMENTS = 4


def _environments(brms, seeded) -> list[dict]:
    """The seeded staging plus brms-type environments (no Agent redeploys) up to ENVIRONMENTS."""
    project = seeded["projectId"]
    found = [e for e in seeded["environments"] if e["type"] == "brms"]
    with httpx.Client(base_url=brms.url, headers={"Authorization": f"Bearer {brms.pat}"}, timeout=10) as client:
        while len(found) < ENVIRONMENTS:
            answer = client.post(f"/api/projects/{project}/environments", json={"name": f"e{len(found)}", "type": "brms"})
            answer.raise_for_status()
            found.append(answer.json())
            client.post(f"/api/projects/{project}/releases/deploy", json={
                "releaseId": seeded["releaseId"], "environmentId": found[-1]["id"], "comment": "test"},
            ).raise_for_status()  # so its tokens can evaluate
    return found


def _interrupted_up(ts, brms, how: signal.Signals) -> None:
    """Starts `pulumi up`, lets one create finish and interrupts it while the others are in
    flight; their regenerates still land on the BRMS after the interruption (so their state
    never learns the new tokens), which is the worst case."""
    brms.add_fault(method="POST", route=REGENERATE_ROUTE, delay_ms=300, times=1)
    brms.add_fault(method="POST", route=REGENERATE_ROUTE, delay_ms=4000)
    brms.reset_metrics()
    env = {**os.environ, **ts.engine.env()}
    process = subprocess.Popen(
        [str(ts.engine.bin_dir / "pulumi"), "up", "--yes", "--skip-preview", "--non-interactive",
         "--stack", ts.stack.name],
        cwd=ts.work_dir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: SIGKILL reaches the CLI and its plugins only
    )
    try:
        deadline = time.monotonic() + 60
        while brms.request_count(method="POST", route=REGENERATE_ROUTE, status=200) < 1:
            assert process.poll() is None, "up finished before it could be interrupted"
            assert time.monotonic() < deadline, "no create finished in time"
            time.sleep(0.05)
        if how == signal.SIGKILL:
            os.killpg(process.pid, signal.SIGKILL)
        else:
            process.send_signal(signal.SIGINT)
        process.wait(60)
        while brms.request_count(method="POST", route=REGENERATE_ROUTE) < ENVIRONMENTS:
            assert time.monotonic() < deadline + 30, "the in-flight regenerates never landed"
            time.sleep(0.1)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
        _kill_session(process.pid)
        brms.clear_faults()


def _kill_session(sid: int) -> None:
    """Ends what the killed CLI left behind: the engine starts its language host and plugins
    in process groups of their own (so `killpg` misses them), but in the CLI's session."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(stat.parent.name)
        if int(fields[3]) == sid and pid != os.getpid():  # fields: state ppid pgrp session ...
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _assert_converged(ts, brms, project: str, envs: list[dict]) -> None:
    held = stack_resources(ts)
    assert set(held) == {e["id"] for e in envs}, held.keys()
    for env in envs:
        token = held[env["id"]]["access_token"]
        assert token == live_token(brms, project, env["id"]), "state must hold the live token"
        assert evaluate(brms, project, env["id"], token) == 200
    assert set(ts.tokens()) == {e["id"] for e in envs}


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGKILL], ids=["sigint", "sigkill"])
def test_journey8_interrupted_up_converges_after_refresh_and_up(token_stack, seeded, brms, how) -> None:
    project = seeded["projectId"]
    envs = _environments(brms, seeded)
    ts = token_stack([{"name": e["id"], "projectId": project, "environmentId": e["id"]} for e in envs])
    _interrupted_up(ts, brms, how)

    # The documented recovery (README, Operations): a killed CLI leaves its lock (`pulumi
    # cancel` removes it on a file:// backend), then refresh clearing pending creates, then up.
    if how == signal.SIGKILL:
        # The engine recorded the creates it had started as pending: their regenerates ran,
        # but no token of theirs was ever handed out.
        assert _pending_creates(ts), "expected pending creates after a kill"
        ts.engine.cli("cancel", "--yes", "--stack", ts.stack.name, cwd=ts.work_dir)
    # --clear-pending-creates: those tokens were never handed out, and up regenerates them.
    refreshed = ts.engine.cli("refresh", "--clear-pending-creates", "--yes", "--stack", ts.stack.name,
                              cwd=ts.work_dir, check=False)
    assert refreshed.returncode == 0, refreshed.stdout[-3000:] + refreshed.stderr[-3000:]
    plans.cli_up(ts.engine, ts.work_dir, stack=ts.stack.name)
    _assert_converged(ts, brms, project, envs)
    assert _pending_creates(ts) == []


def _pending_creates(ts) -> list[str]:
    latest = state.stack_checkpoint(ts.engine.backend, "gorules-tokens", ts.stack.name)["checkpoint"]["latest"]
    return [op["resource"]["urn"] for op in latest.get("pending_operations") or [] if op["type"] == "creating"]

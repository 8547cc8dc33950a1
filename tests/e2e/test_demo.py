"""The README's main job, end to end: the demo script exits 0 and shows each step."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from support.engine import REPO_ROOT

pytestmark = [pytest.mark.engine, pytest.mark.long]
TOKEN_SHAPE = re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])")


def test_demo_runs_end_to_end_and_never_prints_a_token(pulumi_bin: Path, tmp_path: Path) -> None:
    pat = "pat-" + secrets.token_urlsafe(24)
    env = {
        **os.environ,
        "GORULES_PULUMI_BIN": str(pulumi_bin),
        "GORULES_DEMO_HOME": str(tmp_path / "demo"),
        "GORULES_DEMO_PAT": pat,
    }
    run = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "demo.py")],
        env=env, capture_output=True, text=True, timeout=600,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    for step in range(1, 11):
        assert f"[demo {step}/10]" in output
    assert "old token -> HTTP 401; previous -> HTTP 401; new token -> HTTP 200" in output
    assert "accessTokens: [secret]" in output
    assert "(mode 0o600)" in output
    # The old way: the app fails with the revoked token and status says its consumer is stale.
    assert "app: evaluate shipping -> HTTP 200" in output and "app: evaluate shipping -> HTTP 401" in output
    assert "status exit code 0" in output and "status exit code 3" in output
    assert re.search(r"old way: the app was down \d+\.\d s .*until this rollout ran the consumer", output)
    # The new way: a rollout, and the outage the app itself saw beside the rollout's window.
    # With the consumer started early the hand-off can beat the app's 100 ms call interval:
    # then the app saw no failed call at all, and the demo says so.
    assert re.search(r"app-observed outage: (the app was down \d+\.\d s \(\d+ failed calls of \d+\)"
                     r"|the app never failed \(\d+ calls\)); rollout window \d+\.\d s", output), output
    assert pat not in output
    # localbrms tokens are 43 url-safe characters: none may appear in what the demo prints.
    assert not TOKEN_SHAPE.search(output)
    # Re-runnable: a second run on the same demo home starts fresh and succeeds too.
    again = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "demo.py")],
        env=env, capture_output=True, text=True, timeout=600,
    )
    assert again.returncode == 0, again.stdout + again.stderr

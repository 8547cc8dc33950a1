"""The deferred redeploy through the real engine: an `up` with `GORULES_TOKENS_DEFER_REDEPLOY=1`
in the CLI's environment (which the dynamic provider process inherits) rotates a `deployment`
environment without deploying, so localbrms's Agent keeps accepting the previous token and
refuses the new one; the next plain `up` deploys, and the Agent switches at its poll. The
second `up`'s event log says which entries it switched (what the rollout reads)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gorules_tokens.deferral import DEFER_REDEPLOY_ENV, DEFERRED
from gorules_tokens_localbrms.testing import DEPLOY_ROUTE, REGENERATE_ROUTE
from support.brms import config_entry
from support.plans import assert_empty_plan

pytestmark = [pytest.mark.engine, pytest.mark.timeout(600)]


def entries(seeded: dict[str, Any], rotation: str) -> list[dict[str, Any]]:
    return [config_entry(seeded, "production", keepers={"rotation": rotation}),
            config_entry(seeded, "staging", keepers={"rotation": rotation})]


def token_outputs_events(log: Path) -> dict[str, dict[str, Any]]:
    """Resource name -> metadata of its `resOutputsEvent`, for the token resources of one operation."""
    found = {}
    for line in log.read_text().splitlines():
        done = json.loads(line).get("resOutputsEvent") if line.strip() else None
        if done and done["metadata"].get("type", "").endswith("gorules:EnvironmentToken"):
            found[done["metadata"]["urn"].rsplit("::", 1)[-1]] = done["metadata"]
    return found


def test_a_deferred_rotation_switches_the_agent_only_after_the_next_plain_up(
    token_stack, seeded, brms, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(DEFER_REDEPLOY_ENV, raising=False)
    token = token_stack(entries(seeded, "1"))
    token.up()
    first = token.resource_outputs("production")
    assert first["redeploy_status"] == "deployed"
    brms.wait_for_agent_poll()
    assert brms.agent_evaluate(seeded["projectId"], first["access_token"]).status_code == 200

    # The rollout's first `up`: rotate, deploy nothing.
    token.configure(entries(seeded, "2"))
    brms.reset_metrics()
    monkeypatch.setenv(DEFER_REDEPLOY_ENV, "1")  # in the CLI's environment only, as the rollout sets it
    token.engine.cli("up", "--yes", "--skip-preview", "--stack", token.stack.name, cwd=token.work_dir)
    second = token.resource_outputs("production")
    assert second["redeploy_status"] == DEFERRED
    assert second["previous_access_token"] == first["access_token"] != second["access_token"]
    assert token.resource_outputs("staging")["redeploy_status"] == "not_needed"
    assert brms.request_count("POST", REGENERATE_ROUTE) == 2 and brms.request_count("POST", DEPLOY_ROUTE) == 0
    brms.wait_for_agent_poll()
    assert brms.agent_evaluate(seeded["projectId"], first["access_token"]).status_code == 200
    assert brms.agent_evaluate(seeded["projectId"], second["access_token"]).status_code == 401
    # With the variable still set, the deferral stays: an empty plan (and no BRMS request).
    brms.reset_metrics()
    preview_with = token.engine.cli("preview", "--expect-no-changes", "--stack", token.stack.name,
                                    cwd=token.work_dir, check=False)
    assert preview_with.returncode == 0, preview_with.stdout + preview_with.stderr

    # Without it, the preview shows the pending update of `production` alone, offline.
    monkeypatch.delenv(DEFER_REDEPLOY_ENV)
    monkeypatch.setenv("PULUMI_DEBUG_COMMANDS", "true")  # the CLI takes --event-log only with it, as the rollout sets it
    preview_log = tmp_path / "preview-events.jsonl"
    preview = token.engine.cli("preview", "--diff", "--event-log", str(preview_log), "--stack", token.stack.name,
                               cwd=token.work_dir, check=False)
    assert preview.returncode == 0, preview.stdout + preview.stderr
    assert "(update)" in preview.stdout and "1 to update" in preview.stdout, preview.stdout
    assert brms.request_count() == 0
    planned = {name: m["op"] for name, m in token_outputs_events(preview_log).items()}
    assert planned == {"production": "update", "staging": "same"}

    # The rollout's second, plain `up`: deploys, and its events name what it switched.
    up_log = tmp_path / "up-events.jsonl"
    token.engine.cli("up", "--yes", "--skip-preview", "--event-log", str(up_log), "--stack", token.stack.name,
                     cwd=token.work_dir)
    assert brms.request_count("POST", DEPLOY_ROUTE) == 1 and brms.request_count("POST", REGENERATE_ROUTE) == 0
    events = token_outputs_events(up_log)
    assert events["production"]["op"] == "update" and events["staging"]["op"] == "same"
    assert events["production"]["old"]["outputs"]["redeploy_status"] == DEFERRED
    assert events["production"]["new"]["outputs"]["redeploy_status"] == "deployed"
    assert events["production"]["new"]["outputs"]["access_token"] != second["access_token"]  # masked in the log
    third = token.resource_outputs("production")
    assert third["access_token"] == second["access_token"] and third["redeploy_status"] == "deployed"
    brms.wait_for_agent_poll()
    assert brms.agent_evaluate(seeded["projectId"], second["access_token"]).status_code == 200
    assert brms.agent_evaluate(seeded["projectId"], first["access_token"]).status_code == 401
    assert_empty_plan(token.stack)

"""Deploy answers GoRules does not document, through the real engine across two `up`s: the
redeploy is confirmed from the environment list once, and the next `up` neither deploys again
nor warns again (issue 14)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from gorules_tokens_localbrms.testing import DEPLOY_ROUTE
from support.brms import config_entry, env_by_name, evaluate

pytestmark = pytest.mark.engine

UNCONFIRMED_WARNING = "redeploy_status is `unconfirmed`"


def _up(ts: Any) -> str:
    """The CLI's output of one `up`."""
    result = ts.up()
    return (result.stdout or "") + (result.stderr or "")


def test_unrecognised_answer_with_nothing_confirmed_is_unconfirmed_once(token_stack, seeded, brms) -> None:
    env_id = env_by_name(seeded, "production")["id"]
    assert brms.set_approval_mode(seeded["projectId"], env_id, "require_any")["approvalMode"] == "require_any"
    brms.set_deploy_mode("unknown", apply=False)  # 202 with a new shape, and nothing happens
    ts = token_stack([config_entry(seeded, "production")])
    brms.reset_metrics()

    first = _up(ts)
    assert ts.resource_outputs("production")["redeploy_status"] == "unconfirmed"
    # One warning: the CLI prints a diagnostic on its progress line and again under "Diagnostics:".
    assert first.count(UNCONFIRMED_WARNING) == 2 and "1 message" in first, first[-3000:]
    assert brms.request_count("POST", DEPLOY_ROUTE) == 1

    second = _up(ts)
    assert UNCONFIRMED_WARNING not in second
    assert brms.request_count("POST", DEPLOY_ROUTE) == 1  # no loop: not deployed again
    assert ts.preview().change_summary == {"same": 2}
    listed = httpx.get(f"{brms.url}/api/projects/{seeded['projectId']}/environments",
                       headers={"Authorization": f"Bearer {brms.pat}"}, timeout=10).json()
    assert next(e for e in listed if e["id"] == env_id)["changeRequests"] == []


def test_empty_201_is_confirmed_deployed_and_agents_follow_after_their_poll(token_stack, seeded, brms) -> None:
    env_id = env_by_name(seeded, "production")["id"]
    brms.set_deploy_mode("empty")
    ts = token_stack([config_entry(seeded, "production")])
    brms.reset_metrics()

    first = _up(ts)
    assert ts.resource_outputs("production")["redeploy_status"] == "deployed"
    # No warning of the provider's (each names its environment); the engine's own may come and go.
    assert not [line for line in first.splitlines() if "warning" in line.lower() and env_id in line], first[-3000:]
    token = ts.tokens()["production"]
    assert evaluate(brms, seeded["projectId"], env_id, token, agent=True) == 200

    _up(ts)
    assert brms.request_count("POST", DEPLOY_ROUTE) == 1


def test_a_refused_redeploy_warns_in_every_preview_but_is_no_update(token_stack, seeded, brms) -> None:
    """Issue 19 item 5 through the engine: a failed:403 used to show an update and redeploy on
    every `up`. Now the plan is empty, each preview warns naming the permission, and a new PAT
    (or GORULES_RETRY_REDEPLOY=1) retries it."""
    from pulumi import automation as auto

    brms.add_fault(method="POST", route=DEPLOY_ROUTE, status=403, message="Missing permission")
    ts = token_stack([config_entry(seeded, "production")])
    _up(ts)
    assert ts.resource_outputs("production")["redeploy_status"] == "failed:403"
    brms.clear_faults()
    brms.reset_metrics()
    for _ in range(2):
        preview = ts.preview()
        assert preview.change_summary == {"same": 2}, preview.change_summary
        assert "`releases:deploy`" in preview.stdout and "GORULES_RETRY_REDEPLOY=1" in preview.stdout
    _up(ts)
    assert brms.request_count("POST", DEPLOY_ROUTE) == 0
    ts.stack.set_config("gorules:token", auto.ConfigValue(brms.create_pat(["owner"]), secret=True))
    assert ts.preview().change_summary == {"same": 1, "update": 1}
    _up(ts)
    assert ts.resource_outputs("production")["redeploy_status"] == "deployed"
    assert brms.request_count("POST", DEPLOY_ROUTE) == 1

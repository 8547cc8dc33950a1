"""The deferred redeploy (``deferral.DEFER_REDEPLOY_ENV``) against localbrms over real HTTP.

A run with the variable rotates a ``deployment`` environment without deploying: the Agent
keeps the release that lists only the previous token. The next run without it plans an
update that deploys, as it does for a failed redeploy, and the Agent switches at its poll.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from gorules_tokens.deferral import DEFER_REDEPLOY_ENV, DEFERRED, redeploy_deferred
from gorules_tokens.plan import plan, redeploy_pending
from gorules_tokens_localbrms.testing import DEPLOY_ROUTE as DEPLOY
from gorules_tokens_localbrms.testing import ENVIRONMENTS_ROUTE as ENVIRONMENTS
from gorules_tokens_localbrms.testing import REGENERATE_ROUTE as REGENERATE
from support.live_provider import brms, live_brms, make_live_provider, seeded  # noqa: F401 (fixtures)
from support.provider_calls import checked_props

pytestmark = pytest.mark.timeout(90)


def _agent(brms: Any, seeded: dict[str, Any], token: str) -> int:
    return brms.agent_evaluate(seeded["projectKey"], token).status_code


def _rotate_deferred(brms: Any, seeded: dict[str, Any], provider: Any, monkeypatch: Any) -> Any:
    """A create of `production` with the variable set; the Agent has loaded the seeded release."""
    brms.wait_for_agent_poll()
    monkeypatch.setenv(DEFER_REDEPLOY_ENV, "1")
    brms.reset_metrics()
    return provider.create(checked_props(seeded["projectId"], seeded["env"]["production"]["id"]))


def test_a_deferred_rotation_deploys_nothing_and_the_next_plain_run_deploys(
    brms, seeded, make_live_provider, monkeypatch
) -> None:
    provider = make_live_provider()
    old = seeded["env"]["production"]["accessToken"]
    created = _rotate_deferred(brms, seeded, provider, monkeypatch)
    outs, new = created.outs, created.outs["access_token"]
    assert outs["redeploy_status"] == DEFERRED
    assert outs["previous_access_token"] == old and new and new != old
    assert brms.request_count("POST", REGENERATE) == 1 and brms.request_count("POST", DEPLOY) == 0

    # The Agent polls, but nothing new was deployed: it accepts only the previous token.
    brms.wait_for_agent_poll()
    assert (_agent(brms, seeded, old), _agent(brms, seeded, new)) == (200, 401)

    news = checked_props(seeded["projectId"], seeded["env"]["production"]["id"])
    # With the variable still set, the deferral stays: no change planned, and an update
    # made for another reason deploys nothing either.
    assert provider.diff(created.id, outs, news).changes is False
    kept = provider.update(created.id, outs, {**news, "revoke_on_delete": True}).outs
    assert kept["redeploy_status"] == DEFERRED and kept["access_token"] == new
    assert brms.request_count("POST", DEPLOY) == 0

    # A plain run: the diff plans an update (offline, no request), the update deploys.
    monkeypatch.delenv(DEFER_REDEPLOY_ENV)
    brms.reset_metrics()
    diff = provider.diff(created.id, outs, news)
    assert diff.changes is True and not diff.replaces
    assert brms.request_count() == 0
    with brms.agent_held():
        updated = provider.update(created.id, outs, news).outs
        assert updated["redeploy_status"] == "deployed"
        assert updated["access_token"] == new and updated["previous_access_token"] == old
        assert brms.request_count("POST", DEPLOY) == 1
        assert (_agent(brms, seeded, old), _agent(brms, seeded, new)) == (200, 401)  # until its poll
    brms.wait_for_agent_poll()
    assert (_agent(brms, seeded, old), _agent(brms, seeded, new)) == (401, 200)
    # Done: the next plan is empty, with or without the variable.
    assert provider.diff(created.id, updated, news).changes is False
    monkeypatch.setenv(DEFER_REDEPLOY_ENV, "1")
    assert provider.diff(created.id, updated, news).changes is False


def test_a_redeploy_failing_after_the_deferral_is_a_failed_redeploy(
    brms, seeded, make_live_provider, monkeypatch
) -> None:
    provider = make_live_provider()
    created = _rotate_deferred(brms, seeded, provider, monkeypatch)
    monkeypatch.delenv(DEFER_REDEPLOY_ENV)
    news = checked_props(seeded["projectId"], seeded["env"]["production"]["id"])
    brms.add_fault(method="POST", route=DEPLOY, status=500, times=1)
    failed = provider.update(created.id, created.outs, news).outs
    assert failed["redeploy_status"] == "failed:500"
    assert failed["access_token"] == created.outs["access_token"]  # the state keeps the new token
    assert provider.diff(created.id, failed, news).changes is True  # the next `up` retries
    assert provider.update(created.id, failed, news).outs["redeploy_status"] == "deployed"


def test_brms_environments_and_redeploy_off_are_unaffected(brms, seeded, make_live_provider, monkeypatch) -> None:
    monkeypatch.setenv(DEFER_REDEPLOY_ENV, "1")
    provider = make_live_provider()
    staging = provider.create(checked_props(seeded["projectId"], seeded["env"]["staging"]["id"])).outs
    assert staging["environment_type"] == "brms" and staging["redeploy_status"] == "not_needed"
    off = provider.create(checked_props(seeded["projectId"], seeded["env"]["production"]["id"], redeploy=False)).outs
    assert off["redeploy_status"] == "skipped"
    assert brms.request_count("POST", DEPLOY) == 0


def test_a_run_without_the_variable_still_deploys_in_the_create(brms, seeded, make_live_provider, monkeypatch) -> None:
    monkeypatch.delenv(DEFER_REDEPLOY_ENV, raising=False)
    outs = make_live_provider().create(checked_props(seeded["projectId"], seeded["env"]["production"]["id"])).outs
    assert outs["redeploy_status"] == "deployed" and brms.request_count("POST", DEPLOY) == 1
    assert brms.request_count("GET", ENVIRONMENTS) == 1  # the previous token's read, nothing more


@pytest.mark.parametrize("value, deferred", [("1", True), ("true", True), ("YES", True), ("", False), ("0", False)])
def test_the_variable_reads_as_a_flag(value: str, deferred: bool) -> None:
    assert redeploy_deferred({DEFER_REDEPLOY_ENV: value}) is deferred
    assert redeploy_deferred({}) is False


OLDS = {"project_id": "p", "environment_id": "e", "access_token": "t", "rotated_at": "2026-01-01T00:00:00Z"}


@pytest.mark.parametrize("status", [DEFERRED, "failed:503", "skipped"])
def test_the_plan_retries_pending_redeploys_only_without_the_deferral(status: str) -> None:
    olds, news = {**OLDS, "redeploy_status": status}, {"project_id": "p", "environment_id": "e"}
    now = datetime(2026, 1, 2, tzinfo=timezone.utc)
    assert redeploy_pending(status)
    plain = plan(olds, news, brms_url=lambda _: None, now=now)
    assert list(plain.updates) == ["redeploy_status"] and not plain.replaces
    assert not plan(olds, news, brms_url=lambda _: None, now=now, defer_redeploy=True).updates

"""The provider's redeploy against every deploy answer localbrms can give (issue 14).

For each variant: the right ``redeploy_status``, at most one warning, and a second ``up``
(diff, then update if the diff asks for one) that neither deploys again nor opens a second
change request, unless the first outcome was a failure, which is retried on purpose.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import pytest

from support.live_provider import admin, brms, live_brms, make_live_provider, seeded  # noqa: F401 (fixtures)
from support.provider_calls import checked_props

from gorules_tokens_localbrms.testing import DEPLOY_ROUTE as DEPLOY
from gorules_tokens_localbrms.testing import ENVIRONMENTS_ROUTE as ENVIRONMENTS

pytestmark = pytest.mark.timeout(60)


@dataclass(frozen=True)
class Variant:
    mode: str
    status: str  # expected redeploy_status; "change_request" means change_request:<the open one>
    approval: str | None = None
    apply: bool = True
    warnings: int = 0
    lists: int = 0  # environment lists the redeploy needed to confirm the outcome


VARIANTS = {
    "current-body": Variant("current", "deployed"),
    "empty-201": Variant("empty", "deployed", lists=1),
    "empty-object": Variant("empty-object", "deployed", lists=1),
    "plain-text": Variant("text", "deployed", lists=1),
    "unknown-shape": Variant("unknown", "deployed", lists=1),
    "change-request-body": Variant("change-request", "change_request"),
    "current-with-approvals": Variant("current", "change_request", approval="require_any"),
    "empty-with-approvals": Variant("empty", "change_request", approval="require_any", lists=1),
    "unknown-with-approvals": Variant("unknown", "change_request", approval="none_create_request", lists=1),
    "unknown-nothing-happened": Variant(
        "unknown", "unconfirmed", approval="require_any", apply=False, warnings=1, lists=1
    ),
    "failure-body": Variant("failure", "failed:200", warnings=1),
}


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "gorules_tokens" and r.levelno >= logging.WARNING]


def _production(brms: Any, seeded: dict[str, Any]) -> dict[str, Any]:
    items = admin(brms, "GET", f"/api/projects/{seeded['projectId']}/environments").json()
    return next(i for i in items if i["id"] == seeded["env"]["production"]["id"])


@pytest.mark.parametrize("variant", VARIANTS.values(), ids=VARIANTS.keys())
def test_deploy_variant(brms, seeded, make_live_provider, caplog, variant: Variant) -> None:
    prod = seeded["env"]["production"]
    if variant.approval:
        updated = brms.set_approval_mode(seeded["projectId"], prod["id"], variant.approval)
        assert updated["approvalMode"] == variant.approval
    brms.set_deploy_mode(variant.mode, apply=variant.apply)
    brms.reset_metrics()
    provider = make_live_provider()
    props = checked_props(seeded["projectId"], prod["id"])

    with caplog.at_level(logging.WARNING, logger="gorules_tokens"):
        created = provider.create(props)
    outs = created.outs
    assert brms.request_count("POST", DEPLOY) == 1
    # One list reads the previous token before the regenerate; the variant's own confirm the deploy.
    assert brms.request_count("GET", ENVIRONMENTS) == 1 + variant.lists
    open_crs = _production(brms, seeded)["changeRequests"]
    if variant.status == "change_request":
        assert len(open_crs) == 1
        assert outs["redeploy_status"] == f"change_request:{open_crs[0]['id']}"
    else:
        assert outs["redeploy_status"] == variant.status
        assert open_crs == []
    assert len(_warnings(caplog)) == variant.warnings, _warnings(caplog)
    assert all(outs["access_token"] not in w and brms.pat not in w for w in _warnings(caplog))
    # the token is saved whatever the deploy answered
    assert outs["access_token"] == _production(brms, seeded)["accessToken"]

    # The next `up`, with nothing changed: only a failure asks for (and gets) another deploy.
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="gorules_tokens"):
        diff = provider.diff(created.id, outs, props)
        if diff.changes:
            outs = provider.update(created.id, outs, props).outs
    retried = variant.status.startswith("failed:")
    assert diff.changes is retried
    assert brms.request_count("POST", DEPLOY) == (2 if retried else 1)
    assert len(_production(brms, seeded)["changeRequests"]) == len(open_crs)
    assert len(_warnings(caplog)) == (variant.warnings if retried else 0)


def test_403_on_deploy_names_the_permission_and_keeps_the_token(brms, seeded, make_live_provider, caplog) -> None:
    pat = brms.create_pat(["environments:manage"])
    prod = seeded["env"]["production"]
    with caplog.at_level(logging.WARNING, logger="gorules_tokens"):
        outs = make_live_provider(pat=pat).create(checked_props(seeded["projectId"], prod["id"])).outs
    assert outs["redeploy_status"] == "failed:403"
    assert outs["access_token"] == _production(brms, seeded)["accessToken"]
    [warning] = _warnings(caplog)
    assert "releases:deploy" in warning and "HTTP 403" in warning and prod["id"] in warning
    assert pat not in warning and outs["access_token"] not in warning


def test_unconfirmed_when_the_list_cannot_be_read(brms, seeded, make_live_provider, caplog) -> None:
    """An unrecognised 2xx and then a failing list: `unconfirmed`, one warning, no loop. (The
    list before the regenerate fails too: no previous token, one warning of its own.)"""
    prod = seeded["env"]["production"]
    brms.set_deploy_mode("empty")
    brms.add_fault(method="GET", route=ENVIRONMENTS, status=403, times=2)
    with caplog.at_level(logging.WARNING, logger="gorules_tokens"):
        outs = make_live_provider().create(checked_props(seeded["projectId"], prod["id"])).outs
    assert outs["redeploy_status"] == "unconfirmed"
    assert outs["previous_access_token"] is None and outs["access_token"] == _production(brms, seeded)["accessToken"]
    [before, warning] = _warnings(caplog)
    assert "could not read its current token before regenerating" in before and "HTTP 403" in before
    assert "could not be read" in warning and "HTTP 403" in warning


@pytest.mark.parametrize("fault", [{"status": 500, "when": "after"}, {"drop": True, "when": "after"}],
                         ids=["500-after-commit", "dropped-after-commit"])
def test_lost_answer_on_a_gated_environment_records_the_change_request(
    brms, seeded, make_live_provider, caplog, fault: dict[str, Any]
) -> None:
    """The BRMS opened the change request but the answer was lost: recording `failed:` would
    make the next `up` open a second one."""
    prod = seeded["env"]["production"]
    assert brms.set_approval_mode(seeded["projectId"], prod["id"], "require_any")["approvalMode"] == "require_any"
    brms.add_fault(method="POST", route=DEPLOY, times=1, **fault)
    provider = make_live_provider()
    props = checked_props(seeded["projectId"], prod["id"])
    with caplog.at_level(logging.WARNING, logger="gorules_tokens"):
        created = provider.create(props)
    [cr] = _production(brms, seeded)["changeRequests"]
    assert created.outs["redeploy_status"] == f"change_request:{cr['id']}"
    assert len(_warnings(caplog)) == 1
    assert provider.diff(created.id, created.outs, props).changes is False
    assert brms.request_count("POST", DEPLOY) == 1


def test_lost_answer_without_a_change_request_stays_failed_and_is_retried(brms, seeded, make_live_provider) -> None:
    prod = seeded["env"]["production"]
    brms.add_fault(method="POST", route=DEPLOY, times=1, status=500)
    provider = make_live_provider()
    props = checked_props(seeded["projectId"], prod["id"])
    created = provider.create(props)
    assert created.outs["redeploy_status"] == "failed:500"
    assert provider.diff(created.id, created.outs, props).changes is True
    assert provider.update(created.id, created.outs, props).outs["redeploy_status"] == "deployed"

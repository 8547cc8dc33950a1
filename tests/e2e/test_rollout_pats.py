"""`gorules-tokens rollout` reads each configured PAT's expiry once per run (issue 25, item 2):
a warning weeks ahead, an expired PAT fails the run before any regenerate, and `status` shows
the last reading without a passphrase."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from support.brms import config_entry, requests_made
from support.rollout import gorules_tokens

pytestmark = pytest.mark.engine


def _in_days(days: float) -> str:
    return (datetime.now(timezone.utc) + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_pat_expiring_soon_is_a_warning_and_an_expired_one_rotates_nothing(engine, token_stack, seeded, brms,
                                                                               tmp_path) -> None:
    token = token_stack([config_entry(seeded, "staging")])
    brms.set_pat_expiry(brms.admin_pat_id(), _in_days(5))
    run = gorules_tokens(engine, token, "rollout", json_file=tmp_path / "soon.json")
    assert run.code == 0, run.output
    [pat] = run.report["pats"]
    assert pat["label"] == "the default instance" and pat["how"] == "only_in_list", pat
    assert any("expires" in w and "5 days left" in w for w in run.report["warnings"]), run.report["warnings"]
    assert "warning: the PAT of the default instance expires" in run.output
    status = gorules_tokens(engine, token, "status", json_file=tmp_path / "status.json",
                            drop_env=("PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE"))
    assert status.report["pats"]["pats"][0]["expires_at"] == pat["expires_at"], status.output
    assert "PAT of the default instance: expires" in status.output
    assert brms.pat not in run.output + status.output + str(run.report) + str(status.report)

    # An expired PAT: the BRMS refuses it, the run fails naming it, before any regenerate.
    token.configure([config_entry(seeded, "staging", keepers={"v": "2"})])
    brms.set_pat_expiry(brms.admin_pat_id(), _in_days(-1))
    brms.reset_metrics()
    expired = gorules_tokens(engine, token, "rollout", json_file=tmp_path / "expired.json")
    assert expired.code == 1, expired.output
    assert "PAT of the default instance" in expired.report["tokenStack"]["error"], expired.output
    assert requests_made(brms, "regenerate-token", "POST") == 0

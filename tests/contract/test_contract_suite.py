"""`./scripts/contract.sh` against localbrms: it runs, reports every check, and its exit code
tells a BRMS the provider can trust from one that would make it misbehave."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any, Iterator

import pytest

from gorules_tokens_localbrms.testing import LocalBRMSServer
from support.brms import live_token

REPO = Path(__file__).resolve().parents[2]
READ_ONLY_CHECKS = [
    "list-environments", "target-environment", "access-token-in-list", "release-in-list", "approval-fields",
    "auth-missing-pat", "auth-wrong-pat", "error-body-shape", "unknown-project", "project-outside-pat", "unknown-route",
    "pat-list", "pat-by-id",
]

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def brms(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBRMSServer]:
    with LocalBRMSServer(tmp_path_factory.mktemp("contract") / "brms.db") as server:
        yield server


def assert_no_secret(secrets: list[str], text: str) -> None:
    """A leak fails naming only each secret's first 4 characters, so the failure report does
    not print what it caught."""
    leaked = [s[:4] + "…" for s in secrets if s and s in text]
    assert not leaked, f"secrets in the suite's output or report: {leaked}"


def run(brms: LocalBRMSServer, seeded: dict[str, Any], env_key: str, tmp_path: Path, *args: str,
        **env: str) -> tuple[int, str, list[dict[str, Any]]]:
    """Runs the suite; its stdout, stderr and --json report hold no PAT or seeded token.
    Returns (exit code, stdout + stderr, parsed report)."""
    target = next(e for e in seeded["environments"] if e["key"] == env_key)
    report = tmp_path / "report.json"
    variables = {
        "GORULES_URL": brms.url, "GORULES_TOKEN": brms.pat,
        "GORULES_CONTRACT_PROJECT_ID": seeded["projectId"], "GORULES_CONTRACT_ENVIRONMENT_ID": target["id"],
        **env,
    }
    done = subprocess.run(
        [str(REPO / "scripts" / "contract.sh"), "--json", str(report), *args],
        env={**os.environ, **variables}, capture_output=True, text=True, timeout=240,
    )
    report_text = report.read_text() if report.exists() else ""
    results = json.loads(report_text) if report_text else []
    assert_no_secret([brms.pat, *(e["accessToken"] for e in seeded["environments"])],
                     done.stdout + done.stderr + report_text)
    return done.returncode, done.stdout + done.stderr, results


def verdicts(results: list[dict[str, Any]]) -> dict[str, str]:
    return {r["check"]: r["verdict"] for r in results}


def test_read_only_checks_all_match_localbrms(brms: LocalBRMSServer, tmp_path: Path) -> None:
    seeded = brms.seed()
    brms.set_pat_expiry(brms.admin_pat_id(), "2027-06-01T00:00:00Z")
    brms.reset_metrics()
    code, out, results = run(brms, seeded, "production", tmp_path, GORULES_PAT_ID=brms.admin_pat_id())
    brms.set_pat_expiry(brms.admin_pat_id(), None)
    assert code == 0, out
    assert [r["check"] for r in results] == READ_ONLY_CHECKS
    found = verdicts(results)
    assert found.pop("project-outside-pat") == "skipped" and set(found.values()) == {"match"}, out
    assert "12 matched, 0 differ, 0 break the provider, 1 skipped" in out
    assert "[ok]      pat-by-id: HTTP 200, JSON object; expiresAt: a time" in out
    assert "[ok]      unknown-route" in out
    # read-only means it: nothing was regenerated or deployed
    assert brms.request_count(method="POST") == 0


def test_a_project_outside_the_pat_is_reported_with_the_answer(brms: LocalBRMSServer, tmp_path: Path) -> None:
    """Issue 19 item 1: the report says what the BRMS answers for a project the PAT cannot see
    (localbrms: 403), so a user can tell whether their BRMS tells it from a deleted one."""
    seeded, hidden = brms.seed(), brms.seed()
    scoped = brms.create_pat(["environments"], projects=[seeded["projectId"]])
    code, out, results = run(brms, seeded, "staging", tmp_path, GORULES_TOKEN=scoped,
                             GORULES_CONTRACT_HIDDEN_PROJECT_ID=hidden["projectId"])
    assert code == 0, out
    assert verdicts(results)["project-outside-pat"] == "match", out
    assert "[ok]      project-outside-pat: HTTP 403" in out
    assert scoped not in out


def test_mutating_checks_regenerate_and_report_an_unconfirmed_deploy(brms: LocalBRMSServer, tmp_path: Path) -> None:
    seeded = brms.seed()
    prod = next(e for e in seeded["environments"] if e["key"] == "production")
    brms.set_approval_mode(seeded["projectId"], prod["id"], "require_any")
    brms.set_deploy_mode("unknown", apply=False)
    try:
        code, out, results = run(brms, seeded, "production", tmp_path, "--mutating")
    finally:
        brms.set_deploy_mode("current")
    assert code == 0, out  # `unconfirmed` degrades the provider, it does not break it
    found = verdicts(results)
    assert found["regenerate-token"] == "match" and found["deploy-release"] == "differs", out
    assert "redeploy_status 'unconfirmed'" in out and "unrecognised" in out
    minted = live_token(brms, seeded["projectId"], prod["id"])
    assert minted != prod["accessToken"]
    # nor is the token the suite's regenerate minted, in its output or its report
    assert_no_secret([minted], out + (tmp_path / "report.json").read_text())


def test_a_mismatch_that_breaks_the_provider_fails_the_run(brms: LocalBRMSServer, tmp_path: Path) -> None:
    """An environment list that fails breaks every refresh: the suite says so and exits 1. A
    plain 404 for unknown routes no longer breaks anything (issue 19: a 404 never drops a
    token, whatever its message), so that check matches."""
    seeded = brms.seed()
    brms.add_fault(path="/gorules-contract-*", status=404, message="Not Found")
    brms.add_fault(method="GET", route="/api/projects/{projectId}/environments", status=500, message="down")
    try:
        code, out, results = run(brms, seeded, "staging", tmp_path)
    finally:
        brms.clear_faults()
    assert code == 1, out
    found = verdicts(results)
    assert found["list-environments"] == "breaks" and found["unknown-route"] == "match", out
    assert "[BREAKS]  list-environments" in out and "every refresh, adopt and revoke fails" in out


def test_a_brms_without_the_pat_endpoints_differs_and_breaks_nothing(brms: LocalBRMSServer, tmp_path: Path) -> None:
    """The PAT's expiry is a warning aid: a BRMS that does not serve it is reported, exit 0."""
    seeded = brms.seed()
    brms.add_fault(method="GET", path="/api/personal-access-tokens*", status=404, message="Route not found")
    try:
        code, out, results = run(brms, seeded, "staging", tmp_path, GORULES_PAT_ID=brms.admin_pat_id())
    finally:
        brms.clear_faults()
    assert code == 0, out
    found = verdicts(results)
    assert found["pat-list"] == "differs" and found["pat-by-id"] == "differs", out
    assert "cannot read this PAT's expiry" in out and "tokens are unaffected" in out


def test_missing_settings_exit_2(brms: LocalBRMSServer, tmp_path: Path) -> None:
    seeded = brms.seed()
    code, out, results = run(brms, seeded, "staging", tmp_path, GORULES_CONTRACT_ENVIRONMENT_ID="")
    assert code == 2 and "GORULES_CONTRACT_ENVIRONMENT_ID" in out and results == []

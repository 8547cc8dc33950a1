"""EnvironmentToken through the real engine: create, secrecy at rest, rotation by keepers,
by `--replace` and by `rotate_after`, refresh adoption, revocation on destroy."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from support.brms import env_by_name, evaluate, live_token, regenerate_out_of_band, requests_made
from support import state

pytestmark = pytest.mark.engine


def entry(seed: dict[str, Any], env: str, name: str | None = None, **extra: Any) -> dict[str, Any]:
    found = env_by_name(seed, env)
    return {"name": name or env, "projectId": seed["projectId"], "environmentId": found["id"], **extra}


def test_up_creates_secret_tokens_that_work_and_never_reach_disk_in_clear(token_stack, seeded, brms) -> None:
    ts = token_stack([entry(seeded, "staging"), entry(seeded, "production")])
    ts.up()

    tokens = ts.tokens()
    assert set(tokens) == {"staging", "production"}
    for name, token in tokens.items():
        env = env_by_name(seeded, name)
        assert token == live_token(brms, seeded["projectId"], env["id"])
        assert evaluate(brms, seeded["projectId"], env["id"], token) == 200
        assert ts.fingerprints()[name].startswith("sha256:")

    shown = ts.engine.cli("stack", "output", "--stack", "test", cwd=ts.work_dir).stdout
    assert "[secret]" in shown
    state.assert_no_plaintext([*tokens.values(), brms.pat], state.backend_files(ts.engine.backend))

    checkpoint = state.stack_checkpoint(ts.engine.backend, "gorules-tokens", "test")
    ids = sorted(r["id"] for r in state.resources(checkpoint) if r["type"].endswith("EnvironmentToken"))
    assert ids == sorted(f"{seeded['projectId']}/{env_by_name(seeded, n)['id']}" for n in tokens)


def test_keepers_change_rotates_and_kills_the_old_token(token_stack, seeded, brms) -> None:
    ts = token_stack([entry(seeded, "staging", keepers={"rotation": "1"})])
    ts.up()
    old = ts.tokens()["staging"]
    old_fp = ts.fingerprints()["staging"]

    ts.configure([entry(seeded, "staging", keepers={"rotation": "2"})])
    preview = ts.preview()
    assert preview.change_summary.get("replace") == 1

    ts.up()
    new = ts.tokens()["staging"]
    env_id = env_by_name(seeded, "staging")["id"]
    assert new != old and ts.fingerprints()["staging"] != old_fp
    assert evaluate(brms, seeded["projectId"], env_id, new) == 200
    assert evaluate(brms, seeded["projectId"], env_id, old) == 401


def test_replace_flag_rotates(token_stack, seeded, brms) -> None:
    ts = token_stack([entry(seeded, "staging")])
    ts.up()
    old = ts.tokens()["staging"]
    up = ts.up(replace=[ts.urn("staging")])
    assert up.summary.resource_changes.get("replace") == 1
    new = ts.tokens()["staging"]
    env_id = env_by_name(seeded, "staging")["id"]
    assert new != old
    assert evaluate(brms, seeded["projectId"], env_id, new) == 200
    assert evaluate(brms, seeded["projectId"], env_id, old) == 401


def test_no_change_preview_is_silent_and_makes_no_request(token_stack, seeded, brms) -> None:
    ts = token_stack([entry(seeded, "staging"), entry(seeded, "production")])
    ts.up()
    brms.reset_metrics()
    preview = ts.preview()
    assert preview.change_summary == {"same": 3}
    assert requests_made(brms) == 0


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_rotate_after_shows_a_replacement_once_due(token_stack, seeded, brms) -> None:
    """Not due with a period no machine can outlast (1 h); due once the period is shortened
    (2 s) and has elapsed since rotated_at, which the test waits for rather than assumes."""
    ts = token_stack([entry(seeded, "staging", rotateAfter="1h")])
    ts.up()  # its empty plan is the "not due yet" proof
    old = ts.tokens()["staging"]
    outputs = ts.stack.outputs()
    rotated = _instant(outputs["rotatedAt"].value["staging"])
    assert _instant(outputs["nextRotationAt"].value["staging"]) - rotated == timedelta(hours=1)

    ts.configure([entry(seeded, "staging", rotateAfter="2s")])
    while datetime.now(timezone.utc) <= rotated + timedelta(seconds=2):
        time.sleep(0.2)
    assert ts.preview().change_summary.get("replace") == 1
    brms.reset_metrics()
    # A 2 s period is due again by the time any plan could follow, so this up is not settled.
    ts.up(settled=False)
    new = ts.tokens()["staging"]
    assert new != old and requests_made(brms, "regenerate-token") == 1
    env_id = env_by_name(seeded, "staging")["id"]
    assert evaluate(brms, seeded["projectId"], env_id, new) == 200
    assert evaluate(brms, seeded["projectId"], env_id, old) == 401


def test_refresh_adopts_a_token_regenerated_out_of_band(token_stack, seeded, brms) -> None:
    ts = token_stack([entry(seeded, "staging"), entry(seeded, "production")])
    ts.up()
    before = ts.fingerprints()["staging"]
    env_id = env_by_name(seeded, "staging")["id"]
    live = regenerate_out_of_band(brms, seeded["projectId"], env_id)

    brms.reset_metrics()
    ts.stack.refresh(on_output=lambda _l: None)
    # One list request for both tokens of the project, not one per token.
    assert requests_made(brms) == 1

    # Refresh rewrites resource state (stack outputs follow at the next up).
    refreshed = ts.resource_outputs("staging")
    assert refreshed["access_token"] == live
    assert refreshed["fingerprint"] != before
    state.assert_no_plaintext([live, brms.pat], state.backend_files(ts.engine.backend))

    brms.reset_metrics()
    ts.up()
    assert ts.tokens()["staging"] == live
    assert requests_made(brms, "regenerate-token") == 0


@pytest.mark.parametrize("revoke", [True, False])
def test_destroy_revokes_only_when_asked(token_stack, seeded, brms, revoke: bool) -> None:
    ts = token_stack([entry(seeded, "staging", revokeOnDelete=revoke)])
    ts.up()
    token = ts.tokens()["staging"]
    ts.stack.destroy(on_output=lambda _l: None)
    status = evaluate(brms, seeded["projectId"], env_by_name(seeded, "staging")["id"], token)
    assert status == (401 if revoke else 200)


def test_replacement_with_revoke_on_delete_keeps_the_successor_alive(token_stack, seeded, brms) -> None:
    ts = token_stack([entry(seeded, "staging", revokeOnDelete=True, keepers={"v": "1"})])
    ts.up()
    old = ts.tokens()["staging"]
    ts.configure([entry(seeded, "staging", revokeOnDelete=True, keepers={"v": "2"})])
    brms.reset_metrics()
    up = ts.up()
    assert up.summary.resource_changes.get("replace") == 1
    new = ts.tokens()["staging"]
    env_id = env_by_name(seeded, "staging")["id"]
    assert new != old
    # One regenerate (the successor's create); the old resource's delete revoked nothing.
    assert requests_made(brms, "regenerate-token") == 1
    assert new == live_token(brms, seeded["projectId"], env_id)
    assert evaluate(brms, seeded["projectId"], env_id, new) == 200
    assert evaluate(brms, seeded["projectId"], env_id, old) == 401


@pytest.mark.parametrize("redeploy", [True, False])
def test_deployment_environment_agent_follows_redeploy(token_stack, seeded, brms, redeploy: bool) -> None:
    env_id = env_by_name(seeded, "production")["id"]
    baked = live_token(brms, seeded["projectId"], env_id)  # in the release the Agent was given
    ts = token_stack([entry(seeded, "production", redeploy=redeploy)])
    ts.up()
    first = ts.tokens()["production"]
    ts.configure([entry(seeded, "production", redeploy=redeploy, keepers={"r": "2"})])
    ts.up()
    second = ts.tokens()["production"]
    agent = {label: evaluate(brms, seeded["projectId"], env_id, token, agent=True)
             for label, token in {"baked": baked, "first": first, "second": second}.items()}
    if redeploy:
        # Each rotation redeployed the release, so the Agent follows the newest token only.
        assert agent == {"baked": 401, "first": 401, "second": 200}
    else:
        # Without a redeploy the Agent keeps the token list of the last release it was given.
        assert agent == {"baked": 200, "first": 401, "second": 401}
    assert evaluate(brms, seeded["projectId"], env_id, second) == 200


def test_adopt_existing_takes_the_live_token_without_regenerating(token_stack, seeded, brms) -> None:
    env_id = env_by_name(seeded, "staging")["id"]
    live = live_token(brms, seeded["projectId"], env_id)
    ts = token_stack([entry(seeded, "staging", adoptExisting=True)])
    brms.reset_metrics()
    ts.up()
    assert ts.tokens()["staging"] == live
    assert requests_made(brms, "regenerate-token") == 0
    assert evaluate(brms, seeded["projectId"], env_id, live) == 200


def test_refresh_drops_a_token_whose_environment_was_deleted(token_stack, seeded, brms) -> None:
    ts = token_stack([entry(seeded, "staging"), entry(seeded, "production")])
    ts.up()
    staging = env_by_name(seeded, "staging")["id"]
    response = httpx.delete(
        f"{brms.url}/api/projects/{seeded['projectId']}/environments/{staging}",
        headers={"Authorization": f"Bearer {brms.pat}"},
        timeout=10,
    )
    assert response.status_code == 200

    ts.stack.refresh(on_output=lambda _l: None)
    checkpoint = state.stack_checkpoint(ts.engine.backend, "gorules-tokens", "test")
    names = {r["urn"].rsplit("::", 1)[-1] for r in state.resources(checkpoint) if r["type"].endswith("EnvironmentToken")}
    assert names == {"production"}
    assert ts.resource_outputs("production")["access_token"]

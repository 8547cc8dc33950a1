"""create/read/update/delete against the in-memory BRMS (fast, deterministic)."""

import logging
import traceback
from datetime import timedelta

import pytest

from gorules_tokens.errors import BrmsError, ConfigError
from gorules_tokens.fingerprint import fingerprint
from support.provider_calls import read_in_threads


def test_create_regenerates_and_returns_complete_outputs(fake_brms, make_provider, props_for):
    old = fake_brms.token(fake_brms.staging)
    provider = make_provider()
    result = provider.create(props_for(fake_brms.project_id, fake_brms.staging, rotate_after="1d12h",
                                       keepers={"epoch": "1"}))
    outs = result.outs
    assert result.id == f"{fake_brms.project_id}/{fake_brms.staging}"
    token = fake_brms.token(fake_brms.staging)
    assert token != old and outs["access_token"] == token
    assert outs["fingerprint"] == fingerprint(token) and outs["fingerprint"].startswith("sha256:")
    assert len(outs["fingerprint"]) == len("sha256:") + 16
    assert outs["rotated_at"] == "2025-01-01T12:00:00Z"
    assert outs["next_rotation_at"] == "2025-01-03T00:00:00Z"
    assert (outs["environment_name"], outs["environment_key"], outs["environment_type"]) == ("Staging", "staging", "brms")
    assert outs["release_id"] == fake_brms.release_id
    assert outs["redeploy_status"] == "not_needed" and outs["token_source"] == "regenerated"
    # diff/read/delete get only outputs: non-default inputs are echoed, the ids travel in the resource id,
    # defaults are implied (smaller state, rewritten at every checkpoint).
    assert outs["keepers"] == {"epoch": "1"} and outs["rotate_after"] == "1d12h"
    for key in ("project_id", "environment_id", "revoke_on_delete", "adopt_existing", "redeploy", "api_url"):
        assert key not in outs
    assert "__provider" not in outs
    assert token not in result.id


def test_create_redeploys_deployment_environment(fake_brms, make_provider, props_for):
    outs = make_provider().create(props_for(fake_brms.project_id, fake_brms.production)).outs
    assert outs["redeploy_status"] == "deployed"
    assert fake_brms.deploys == [{"releaseId": fake_brms.release_id, "environmentId": fake_brms.production,
                                  "comment": fake_brms.deploys[0]["comment"]}]


def test_create_without_redeploy_records_skipped(fake_brms, make_provider, props_for):
    outs = make_provider().create(props_for(fake_brms.project_id, fake_brms.production, redeploy=False)).outs
    assert outs["redeploy_status"] == "skipped" and fake_brms.deploys == []


def test_create_on_gated_environment_records_change_request(fake_brms, make_provider, props_for):
    gated = fake_brms.add_env("Gated", "gated", "deployment", release=True, approval="require_one_per_team")
    outs = make_provider().create(props_for(fake_brms.project_id, gated)).outs
    assert outs["redeploy_status"].startswith("change_request:cr-")


def test_create_deployment_without_release_needs_no_redeploy(fake_brms, make_provider, props_for):
    bare = fake_brms.add_env("Bare", "bare", "deployment", release=False)
    assert make_provider().create(props_for(fake_brms.project_id, bare)).outs["redeploy_status"] == "not_needed"


def test_failed_redeploy_does_not_lose_token_and_update_retries(fake_brms, make_provider, props_for, caplog):
    fake_brms.fault("POST", "deploy", status=500)  # transient: every `up` retries
    provider = make_provider()
    props = props_for(fake_brms.project_id, fake_brms.production)
    with caplog.at_level(logging.WARNING, logger="gorules_tokens"):
        outs = provider.create(props).outs
    assert outs["redeploy_status"] == "failed:500" and "redeploy_pat_fingerprint" not in outs
    assert outs["access_token"] == fake_brms.token(fake_brms.production)
    assert "redeploying" in caplog.text and outs["access_token"] not in caplog.text
    rid = f"{fake_brms.project_id}/{fake_brms.production}"
    assert provider.diff(rid, {**outs, "__provider": "x"}, props).changes is True
    updated = provider.update(rid, {**outs, "__provider": "x"}, props).outs
    assert updated["redeploy_status"] == "deployed"
    assert updated["access_token"] == outs["access_token"]


def test_a_refused_redeploy_is_retried_only_when_the_pat_changes_or_when_asked(
        fake_brms, make_provider, props_for, caplog, monkeypatch):
    """Issue 19 item 5: a failed:403 showed an update (and a redeploy) on every `up` forever."""
    fake_brms.fault("POST", "deploy", status=403, times=2)
    provider = make_provider()
    props = props_for(fake_brms.project_id, fake_brms.production)
    outs = {**provider.create(props).outs, "__provider": "x"}
    assert outs["redeploy_status"] == "failed:403" and outs["redeploy_pat_fingerprint"].startswith("sha256:")
    assert fake_brms.pat not in str(outs)
    rid = f"{fake_brms.project_id}/{fake_brms.production}"
    for _ in range(2):  # every preview and `up` warns, none retries
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="gorules_tokens"):
            assert provider.diff(rid, outs, props).changes is False
        assert "failed:403" in caplog.text and "`releases:deploy`" in caplog.text
        assert "GORULES_TOKEN" in caplog.text and "GORULES_RETRY_REDEPLOY=1" in caplog.text
    monkeypatch.setenv("GORULES_RETRY_REDEPLOY", "1")  # asked
    assert provider.diff(rid, outs, props).changes is True
    again = {**provider.update(rid, outs, props).outs, "__provider": "x"}
    assert again["redeploy_status"] == "failed:403"  # still refused: recorded again
    monkeypatch.delenv("GORULES_RETRY_REDEPLOY")
    assert provider.diff(rid, again, props).changes is False
    fake_brms.pat = "pat_" + "n" * 32  # a PAT with the permission
    monkeypatch.setenv("GORULES_TOKEN", fake_brms.pat)
    assert provider.diff(rid, again, props).changes is True
    fixed = provider.update(rid, again, props).outs
    assert fixed["redeploy_status"] == "deployed" and "redeploy_pat_fingerprint" not in fixed
    # an input change retries too (the update runs anyway)
    refused = {**outs, "redeploy_status": "failed:403"}
    changed = props_for(fake_brms.project_id, fake_brms.production, rotate_after="30d")
    assert provider.diff(rid, refused, changed).changes is True


def test_adopt_existing_takes_live_token_without_regenerating(fake_brms, make_provider, props_for):
    live = fake_brms.token(fake_brms.production)
    outs = make_provider().create(props_for(fake_brms.project_id, fake_brms.production, adopt_existing=True)).outs
    assert outs["access_token"] == live and outs["token_source"] == "adopted"
    assert outs["redeploy_status"] == "not_needed"
    assert fake_brms.count("POST", "regenerate-token") == 0 and fake_brms.deploys == []


def test_adopt_existing_fails_clearly_when_token_hidden(fake_brms, make_provider, props_for):
    fake_brms.hide_tokens = True
    with pytest.raises(BrmsError, match="no access token") as info:
        make_provider().create(props_for(fake_brms.project_id, fake_brms.staging, adopt_existing=True))
    assert fake_brms.staging in str(info.value)


def test_adopt_existing_unknown_environment(fake_brms, make_provider, props_for):
    with pytest.raises(BrmsError) as info:
        make_provider().create(props_for(fake_brms.project_id, "923e4567-e89b-12d3-a456-426614174000",
                                         adopt_existing=True))
    assert info.value.status == 404 and "adopt-existing" in str(info.value)


def test_create_error_traceback_is_secret_free(fake_brms, make_provider, props_for):
    fake_brms.fault("POST", "regenerate-token", status=403,
                    body={"statusCode": 403, "error": "Forbidden", "message": f"pat {fake_brms.pat} lacks permission"})
    with pytest.raises(BrmsError) as info:
        make_provider().create(props_for(fake_brms.project_id, fake_brms.staging))
    text = "".join(traceback.format_exception(info.value))
    assert "regenerate-token" in text and "HTTP 403" in text and fake_brms.staging in text
    assert fake_brms.pat not in text


def test_missing_credentials_error_only_when_talking_to_brms(fake_brms, make_provider, props_for, monkeypatch):
    provider = make_provider()
    monkeypatch.delenv("GORULES_TOKEN")
    props = props_for(fake_brms.project_id, fake_brms.staging)
    assert provider.check({}, props).failures == []
    with pytest.raises(ConfigError, match="GORULES_TOKEN"):
        provider.create(props)


def test_update_keeps_token_and_all_outputs(fake_brms, make_provider, props_for, clock):
    provider = make_provider()
    props = props_for(fake_brms.project_id, fake_brms.staging)
    outs = provider.create(props).outs
    calls = len(fake_brms.calls)
    clock.now += timedelta(days=3)
    news = props_for(fake_brms.project_id, fake_brms.staging, rotate_after="30d", revoke_on_delete=True)
    updated = provider.update("id", {**outs, "__provider": "old"}, news).outs
    assert len(fake_brms.calls) == calls  # no network
    assert updated["access_token"] == outs["access_token"] and updated["rotated_at"] == outs["rotated_at"]
    assert updated["next_rotation_at"] == "2025-01-31T12:00:00Z"
    assert updated["revoke_on_delete"] is True and "__provider" not in updated
    assert set(outs) <= set(updated)


def test_update_rewrites_an_older_full_echo_to_the_compact_one(fake_brms, make_provider, props_for):
    provider = make_provider()
    outs = provider.create(props_for(fake_brms.project_id, fake_brms.staging)).outs
    legacy = {**outs, "project_id": fake_brms.project_id, "environment_id": fake_brms.staging, "keepers": {},
              "revoke_on_delete": True, "adopt_existing": False, "redeploy": True, "__provider": "old"}
    news = props_for(fake_brms.project_id, fake_brms.staging)  # revoke_on_delete back to its default
    updated = provider.update(f"{fake_brms.project_id}/{fake_brms.staging}", legacy, news).outs
    assert updated == outs


def test_read_unchanged(fake_brms, make_provider, props_for):
    provider = make_provider()
    created = provider.create(props_for(fake_brms.project_id, fake_brms.staging))
    result = provider.read(created.id, {**created.outs, "__provider": "p"})
    assert result.id == created.id and result.outs == created.outs and result.inputs is None


def test_read_adopts_out_of_band_regenerate(fake_brms, make_provider, props_for, clock):
    provider = make_provider()
    created = provider.create(props_for(fake_brms.project_id, fake_brms.staging, rotate_after="30d"))
    assert created.outs["rotated_at"] == "2025-01-01T12:00:00Z"
    fake_brms.envs[fake_brms.staging]["accessToken"] = "envtok_out_of_band_1234"
    fake_brms.envs[fake_brms.staging]["name"] = "Renamed"
    clock.now += timedelta(days=3, hours=2)
    outs = provider.read(created.id, created.outs).outs
    assert outs["access_token"] == "envtok_out_of_band_1234"
    assert outs["fingerprint"] == fingerprint("envtok_out_of_band_1234")
    assert outs["token_source"] == "adopted_on_refresh"
    # When this stack saw the new token, not the previous rotation's time (issue 26, item 8).
    assert outs["rotated_at"] == "2025-01-04T14:00:00Z"
    assert outs["next_rotation_at"] == "2025-02-03T14:00:00Z"
    assert outs["environment_name"] == "Renamed"


def test_read_of_an_unchanged_token_keeps_its_rotation_time(fake_brms, make_provider, props_for, clock):
    provider = make_provider()
    created = provider.create(props_for(fake_brms.project_id, fake_brms.staging, rotate_after="30d"))
    clock.now += timedelta(days=3)
    outs = provider.read(created.id, created.outs).outs
    assert (outs["rotated_at"], outs["next_rotation_at"]) == (created.outs["rotated_at"], created.outs["next_rotation_at"])


def test_read_never_blanks_token_when_list_hides_it(fake_brms, make_provider, props_for):
    provider = make_provider()
    created = provider.create(props_for(fake_brms.project_id, fake_brms.staging))
    fake_brms.hide_tokens = True
    assert provider.read(created.id, created.outs).outs["access_token"] == created.outs["access_token"]


def test_read_when_environment_gone(fake_brms, make_provider, props_for):
    provider = make_provider()
    created = provider.create(props_for(fake_brms.project_id, fake_brms.staging))
    fake_brms.envs[fake_brms.staging]["deletedAt"] = "2025-02-01T00:00:00Z"
    gone = provider.read(created.id, created.outs)
    assert gone.id is None and gone.outs == {}
    # A 404 for the project fails instead (tests/provider/test_journeys.py, issue 19 item 1).


def test_read_does_not_drop_state_on_auth_or_route_errors(fake_brms, make_provider, props_for):
    provider = make_provider()
    created = provider.create(props_for(fake_brms.project_id, fake_brms.staging))
    fake_brms.fault("GET", "environments$", status=403)
    with pytest.raises(BrmsError, match="HTTP 403"):
        provider.read(created.id, created.outs)
    fake_brms.fault("GET", "environments$", status=404,
                    body={"statusCode": 404, "error": "Not Found", "message": "Route GET:/api/x not found"})
    with pytest.raises(BrmsError, match="Route"):
        provider.read(created.id, created.outs)


def test_refresh_of_many_tokens_costs_one_list(fake_brms, make_provider, props_for):
    provider = make_provider()
    envs = [fake_brms.add_env(f"E{i}", f"e{i}", "brms", release=False) for i in range(8)]
    states = [provider.create(props_for(fake_brms.project_id, e)) for e in envs]
    before = fake_brms.count("GET", "/environments")
    results = read_in_threads(provider, states, timeout=10)
    assert len(results) == 8 and all(r.id for r in results)
    assert fake_brms.count("GET", "/environments") - before == 1


def test_regenerate_invalidates_list_cache(fake_brms, make_provider, props_for):
    provider = make_provider()
    a = provider.create(props_for(fake_brms.project_id, fake_brms.staging))
    provider.read(a.id, a.outs)  # warms the cache
    b = provider.create(props_for(fake_brms.project_id, fake_brms.staging, keepers={"v": "2"}))
    assert provider.read(b.id, b.outs).outs["access_token"] == b.outs["access_token"]
    # the predecessor now sees the successor's token (it would adopt it on refresh)
    assert provider.read(a.id, a.outs).outs["access_token"] == b.outs["access_token"]


def test_delete_without_revoke_makes_no_call(fake_brms, make_provider, props_for):
    provider = make_provider()
    created = provider.create(props_for(fake_brms.project_id, fake_brms.staging))
    calls = len(fake_brms.calls)
    provider.delete(created.id, created.outs)
    assert len(fake_brms.calls) == calls


def test_delete_with_revoke_regenerates_current_token(fake_brms, make_provider, props_for):
    provider = make_provider()
    created = provider.create(props_for(fake_brms.project_id, fake_brms.production, revoke_on_delete=True))
    deploys = len(fake_brms.deploys)
    provider.delete(created.id, created.outs)
    assert fake_brms.token(fake_brms.production) != created.outs["access_token"]
    assert len(fake_brms.deploys) == deploys + 1  # Agents must learn the revocation too


def test_delete_never_kills_a_successor(fake_brms, make_provider, props_for):
    provider = make_provider()
    old = provider.create(props_for(fake_brms.project_id, fake_brms.staging, revoke_on_delete=True))
    new = provider.create(props_for(fake_brms.project_id, fake_brms.staging, revoke_on_delete=True,
                                    keepers={"v": "2"}))
    regenerations = fake_brms.count("POST", "regenerate-token")
    provider.delete(old.id, old.outs)  # create-before-delete replacement
    assert fake_brms.count("POST", "regenerate-token") == regenerations
    assert fake_brms.token(fake_brms.staging) == new.outs["access_token"]


def test_delete_succeeds_when_gone_or_hidden(fake_brms, make_provider, props_for):
    provider = make_provider()
    created = provider.create(props_for(fake_brms.project_id, fake_brms.staging, revoke_on_delete=True))
    fake_brms.hide_tokens = True
    provider.delete(created.id, created.outs)
    fake_brms.hide_tokens = False
    assert fake_brms.token(fake_brms.staging) == created.outs["access_token"]
    fake_brms.envs[fake_brms.staging]["deletedAt"] = "2025-02-01T00:00:00Z"
    provider.delete(created.id, created.outs)
    # A 404 for the project is no "gone" (tests/provider/test_journeys.py, issue 19 item 1).
    assert fake_brms.count("POST", "regenerate-token") == 1

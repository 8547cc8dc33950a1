"""Operator journeys of issue 12 at the provider level (fast, in-memory BRMS); the
real-engine proofs are in tests/e2e/test_journeys_*.py."""

import logging

import httpx
import pytest

from gorules_tokens.errors import BrmsError, ConfigError
from gorules_tokens.provider import SAVED_PAT_HINT

from .conftest import FAKE_URL  # the in-memory BRMS's address


def created(fake_brms, provider, props_for, env=None, **extra):
    return provider.create(props_for(fake_brms.project_id, env or fake_brms.staging, **extra))


def lists_after_the_regenerate(fake_brms) -> int:
    """Environment lists from the first regenerate on: what confirms a token (a first create
    lists once before it, to read a `deployment` environment's previous token)."""
    first = next(i for i, (method, path) in enumerate(fake_brms.calls) if path.endswith("regenerate-token"))
    return sum(1 for method, path in fake_brms.calls[first:] if method == "GET" and path.endswith("/environments"))


# -- journey 1: adoption is one-shot ------------------------------------------------------

def test_a_create_after_a_diff_of_the_same_environment_regenerates(fake_brms, make_provider, props_for):
    provider = make_provider()
    first = created(fake_brms, provider, props_for, adopt_existing=True)  # first creation adopts
    assert first.outs["token_source"] == "adopted"
    news = props_for(fake_brms.project_id, fake_brms.staging, adopt_existing=True, keepers={"v": "2"})
    assert provider.diff(first.id, first.outs, news).replaces == ["keepers"]
    second = provider.create(news)  # the replacement, in the same run
    assert second.outs["token_source"] == "regenerated"
    assert second.outs["access_token"] != first.outs["access_token"]


def test_delete_never_revokes_a_token_adopted_in_the_same_run(fake_brms, make_provider, props_for):
    # A rename without aliases: the new resource adopts, then the old one (revoke_on_delete) is deleted.
    provider = make_provider()
    old = {**created(fake_brms, make_provider(), props_for, revoke_on_delete=True).outs}
    new = created(fake_brms, provider, props_for, adopt_existing=True)
    assert new.outs["access_token"] == old["access_token"]
    provider.delete(f"{fake_brms.project_id}/{fake_brms.staging}", old)
    assert fake_brms.token(fake_brms.staging) == new.outs["access_token"]


def test_adopted_token_is_not_echoed(fake_brms, make_provider, props_for):
    outs = created(fake_brms, make_provider(), props_for, adopt_existing=True).outs
    assert outs["token_source"] == "adopted" and "adopt_existing" not in outs


# -- journey 2: nothing dropped on an answer that is not the BRMS's -----------------------

@pytest.mark.parametrize("answer", [
    httpx.Response(404, text="<html><h1>404 Not Found</h1></html>", headers={"content-type": "text/html"}),
    httpx.Response(404, json={"message": "no such route"}),  # JSON, but not the BRMS's error shape
    httpx.Response(404, json={"statusCode": 404, "error": "Not Found", "message": "Route GET:/x not found"}),
])
def test_read_keeps_state_on_a_404_that_is_not_the_brms_saying_gone(fake_brms, make_provider, props_for, answer):
    state = created(fake_brms, make_provider(), props_for)
    original = fake_brms.handler
    fake_brms.handler = lambda request: answer if request.method == "GET" else original(request)
    with pytest.raises(BrmsError) as info:
        make_provider().read(state.id, state.outs)
    assert info.value.status == 404 and f"at {FAKE_URL}/api/projects/" in str(info.value)


def test_a_404_for_the_project_never_drops_the_token(fake_brms, make_provider, props_for):
    """Issue 19 item 1: even the BRMS's own "Project not found" may mean a PAT limited to other
    projects; dropping would make the next `up` regenerate. Only a list without the
    environment drops it."""
    provider = make_provider()
    state = created(fake_brms, provider, props_for)
    fake_brms.project_exists = False  # {"statusCode": 404, "message": "Project not found"}
    with pytest.raises(BrmsError) as info:
        provider.read(state.id, state.outs)
    text = str(info.value)
    assert info.value.status == 404 and fake_brms.project_id in text
    assert "GORULES_TOKEN" in text and "limited to selected projects" in text
    assert "pulumi state delete" in text and "remove the entry" in text
    assert fake_brms.pat not in text and state.outs["access_token"] not in text
    fake_brms.project_exists = True
    fake_brms.envs[fake_brms.staging]["deletedAt"] = "2025-02-01T00:00:00Z"
    assert provider.read(state.id, state.outs).id is None  # listed, without the environment: gone


def test_a_404_for_the_project_is_never_a_revoke(fake_brms, make_provider, props_for):
    provider = make_provider()
    state = created(fake_brms, provider, props_for, revoke_on_delete=True)
    fake_brms.project_exists = False
    with pytest.raises(BrmsError) as info:
        provider.delete(state.id, state.outs)
    text = str(info.value)
    assert info.value.status == 404 and fake_brms.project_id in text
    assert "not counted as revoked" in text and "revokeOnDelete: false" in text and "GORULES_TOKEN" in text
    assert fake_brms.count("POST", "regenerate-token") == 1  # the create's only
    fake_brms.project_exists = True
    assert fake_brms.token(fake_brms.staging) == state.outs["access_token"]


# -- journey 3: the BRMS in effect is part of the state -----------------------------------

def test_brms_url_is_stored_and_a_move_is_a_replace(fake_brms, make_provider, props_for, monkeypatch):
    provider = make_provider()
    state = created(fake_brms, provider, props_for)
    assert state.outs["brms_url"] == FAKE_URL
    news = props_for(fake_brms.project_id, fake_brms.staging)
    assert provider.diff(state.id, state.outs, news).changes is False
    monkeypatch.setenv("GORULES_URL", "https://other.brms.test/api")
    assert provider.diff(state.id, state.outs, news).replaces == ["brms_url"]
    with pytest.raises(ConfigError, match=f"minted on the BRMS at {FAKE_URL}, but the stack now points at "
                                          "https://other.brms.test"):
        provider.read(state.id, state.outs)


def test_state_of_an_earlier_release_is_not_replaced_and_learns_its_url(fake_brms, make_provider, props_for):
    provider = make_provider()
    state = created(fake_brms, provider, props_for)
    legacy = {k: v for k, v in state.outs.items() if k != "brms_url"}
    news = props_for(fake_brms.project_id, fake_brms.staging)
    assert provider.diff(state.id, legacy, news).changes is False
    assert provider.read(state.id, legacy).outs["brms_url"] == FAKE_URL
    updated = provider.update(state.id, legacy, props_for(fake_brms.project_id, fake_brms.staging, rotate_after="1d"))
    assert updated.outs["brms_url"] == FAKE_URL


def test_delete_after_a_move_does_not_revoke_on_the_new_brms(fake_brms, make_provider, props_for, monkeypatch,
                                                            caplog):
    provider = make_provider()
    state = created(fake_brms, provider, props_for, revoke_on_delete=True)
    monkeypatch.setenv("GORULES_URL", "https://other.brms.test")
    with caplog.at_level(logging.WARNING, logger="gorules_tokens"):
        provider.delete(state.id, state.outs)
    assert fake_brms.token(fake_brms.staging) == state.outs["access_token"]
    assert "not revoking" in caplog.text


# -- journey 6: a refusal during refresh/destroy names the saved PAT -------------------------

@pytest.mark.parametrize("status", [401, 403])
def test_refresh_and_destroy_refusals_say_which_pat_and_the_fix(fake_brms, make_provider, props_for, status):
    provider = make_provider()
    state = created(fake_brms, provider, props_for, revoke_on_delete=True)
    for call in (lambda: provider.read(state.id, state.outs), lambda: provider.delete(state.id, state.outs)):
        fake_brms.fault("GET", "environments$", status=status)
        with pytest.raises(BrmsError) as info:
            call()
        assert info.value.hint == SAVED_PAT_HINT and "--run-program" in str(info.value)
        assert "pulumi up" in str(info.value)


# -- journey 7: a lost answer converges on the live token ---------------------------------

def test_retried_regenerate_confirms_the_live_token_with_one_list(fake_brms, make_provider, props_for):
    original = fake_brms.handler
    seen = {"regenerate": 0}

    def handler(request):
        if request.url.path.endswith("regenerate-token"):
            seen["regenerate"] += 1
            answer = original(request)
            if seen["regenerate"] == 1:
                raise httpx.ReadTimeout("timed out", request=request)  # applied, answer lost
            return answer
        if request.method == "GET":
            # The lost attempt's effect lands late: the live token is not the returned one.
            fake_brms.envs[fake_brms.staging]["accessToken"] = "envtok_applied_late_123456"
        return original(request)

    fake_brms.handler = handler
    outs = created(fake_brms, make_provider(), props_for).outs
    assert lists_after_the_regenerate(fake_brms) == 1
    assert outs["access_token"] == "envtok_applied_late_123456" == fake_brms.token(fake_brms.staging)


def test_regenerate_without_ambiguity_makes_no_list_call(fake_brms, make_provider, props_for):
    fake_brms.fault("POST", "regenerate-token", status=503)  # "not processed": not ambiguous
    created(fake_brms, make_provider(), props_for)
    assert lists_after_the_regenerate(fake_brms) == 0



# -- journey 9: outage memory only for outages -------------------------------------------

def test_one_5xx_of_a_deploy_does_not_mark_the_brms_down(fake_brms, make_provider, props_for):
    provider = make_provider()
    fake_brms.fault("POST", "deploy", status=500)
    outs = created(fake_brms, provider, props_for, env=fake_brms.production).outs
    assert outs["redeploy_status"] == "failed:500"
    assert created(fake_brms, provider, props_for).outs["access_token"] == fake_brms.token(fake_brms.staging)


# -- issue 19 item 4: a revoke Agents still honour is not a success ---------------------------

def test_a_delete_whose_token_a_successor_of_this_run_replaced_makes_no_call_but_the_list(
        fake_brms, make_provider, props_for):
    provider = make_provider()
    old = created(fake_brms, provider, props_for, env=fake_brms.production, revoke_on_delete=True)
    created(fake_brms, provider, props_for, env=fake_brms.production, revoke_on_delete=True, keepers={"v": "2"})
    deploys = len(fake_brms.deploys)
    provider.delete(old.id, old.outs)
    assert len(fake_brms.deploys) == deploys and fake_brms.count("POST", "regenerate-token") == 2


def test_a_delete_retried_after_a_failed_redeploy_deploys_again_and_never_regenerates(
        fake_brms, make_provider, props_for):
    state = created(fake_brms, make_provider(), props_for, env=fake_brms.production, revoke_on_delete=True)
    fake_brms.fault("POST", "deploy", status=500)
    with pytest.raises(BrmsError, match="Agents still accept the revoked token") as info:
        make_provider().delete(state.id, state.outs)
    assert "redeploy failed:500" in str(info.value)
    assert fake_brms.token(fake_brms.production) != state.outs["access_token"]  # revoked on the BRMS
    regenerates, deploys = fake_brms.count("POST", "regenerate-token"), len(fake_brms.deploys)
    make_provider().delete(state.id, state.outs)  # the next destroy, in a new process
    assert fake_brms.count("POST", "regenerate-token") == regenerates
    assert len(fake_brms.deploys) == deploys + 1

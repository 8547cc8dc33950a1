"""`previous_access_token`: the token a `deployment` environment's Agents still accept after a
rotation, read from the environment list just before the regenerate (in-memory BRMS)."""

from __future__ import annotations

import logging

import httpx

from gorules_tokens.errors import scrub


def calls_of(fake_brms) -> list[str]:
    """The BRMS calls as short names, in order."""
    names = []
    for method, path in fake_brms.calls:
        if path.endswith("regenerate-token"):
            names.append("regenerate")
        elif path.endswith("/environments") and method == "GET":
            names.append("list")
        elif path.endswith("/releases/deploy"):
            names.append("deploy")
        else:
            names.append(f"{method} {path}")
    return names


def test_a_deployment_environment_keeps_the_token_listed_before_the_regenerate(fake_brms, make_provider, props_for):
    before = fake_brms.token(fake_brms.production)
    outs = make_provider().create(props_for(fake_brms.project_id, fake_brms.production)).outs
    assert outs["access_token"] == fake_brms.token(fake_brms.production) != before
    assert outs["previous_access_token"] == before
    # The read comes first, then the regenerate and the redeploy: nothing else.
    assert calls_of(fake_brms) == ["list", "regenerate", "deploy"]


def test_a_replacement_hands_on_the_token_it_replaces(fake_brms, make_provider, props_for):
    provider = make_provider()
    first = provider.create(props_for(fake_brms.project_id, fake_brms.production))
    news = props_for(fake_brms.project_id, fake_brms.production, keepers={"v": "2"})
    assert provider.diff(first.id, first.outs, news).replaces == ["keepers"]
    fake_brms.calls.clear()
    second = provider.create(news).outs
    assert second["previous_access_token"] == first.outs["access_token"]
    assert second["access_token"] == fake_brms.token(fake_brms.production) != first.outs["access_token"]
    assert calls_of(fake_brms) == ["list", "regenerate", "deploy"]


def test_a_brms_environment_has_none_and_its_rotation_lists_nothing(fake_brms, make_provider, props_for):
    provider = make_provider()
    first = provider.create(props_for(fake_brms.project_id, fake_brms.staging))
    assert "previous_access_token" not in {k for k, v in first.outs.items() if v is not None}
    news = props_for(fake_brms.project_id, fake_brms.staging, keepers={"v": "2"})
    assert provider.diff(first.id, first.outs, news).replaces == ["keepers"]
    fake_brms.calls.clear()
    second = provider.create(news).outs
    assert second["previous_access_token"] is None
    assert calls_of(fake_brms) == ["regenerate"]  # the diffed state said `brms`: no read


def test_a_hidden_token_or_a_failed_list_means_no_previous_token_and_still_a_regenerate(
    fake_brms, make_provider, props_for, caplog
):
    fake_brms.hide_tokens = True
    before = fake_brms.token(fake_brms.production)
    hidden = make_provider().create(props_for(fake_brms.project_id, fake_brms.production)).outs
    assert hidden["previous_access_token"] is None and hidden["access_token"] != before

    fake_brms.hide_tokens = False
    fake_brms.calls.clear()
    fake_brms.fault("GET", "environments$", status=403)
    before = fake_brms.token(fake_brms.production)
    with caplog.at_level(logging.WARNING, logger="gorules_tokens"):
        failed = make_provider().create(props_for(fake_brms.project_id, fake_brms.production)).outs
    assert failed["previous_access_token"] is None
    assert failed["access_token"] == fake_brms.token(fake_brms.production) != before
    assert calls_of(fake_brms) == ["list", "regenerate", "deploy"]  # a refused list is not retried
    [warning] = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert "could not read its current token" in warning and fake_brms.production in warning
    assert before not in warning and failed["access_token"] not in warning and fake_brms.pat not in warning


def test_a_lost_regenerate_answer_keeps_the_token_from_before_the_first_attempt(fake_brms, make_provider, props_for):
    before = fake_brms.token(fake_brms.production)
    original = fake_brms.handler
    seen = {"regenerate": 0}

    def handler(request):
        answer = original(request)
        if request.url.path.endswith("regenerate-token"):
            seen["regenerate"] += 1
            if seen["regenerate"] == 1:
                raise httpx.ReadTimeout("timed out", request=request)  # applied, answer lost
        return answer

    fake_brms.handler = handler
    outs = make_provider().create(props_for(fake_brms.project_id, fake_brms.production)).outs
    assert seen["regenerate"] == 2
    assert outs["access_token"] == fake_brms.token(fake_brms.production)
    # The token the lost attempt minted was never handed out and is dead; the Agents still
    # accept the one from before both attempts.
    assert outs["previous_access_token"] == before


def test_update_and_refresh_keep_the_previous_token_adoption_has_none(fake_brms, make_provider, props_for):
    provider = make_provider()
    created = provider.create(props_for(fake_brms.project_id, fake_brms.production))
    previous = created.outs["previous_access_token"]
    assert previous
    news = props_for(fake_brms.project_id, fake_brms.production, revoke_on_delete=True)
    assert provider.update(created.id, created.outs, news).outs["previous_access_token"] == previous
    assert provider.read(created.id, created.outs).outs["previous_access_token"] == previous

    other = fake_brms.add_env("Other", "other", "deployment", release=True)
    adopted = make_provider().create(props_for(fake_brms.project_id, other, adopt_existing=True)).outs
    assert adopted["token_source"] == "adopted" and adopted.get("previous_access_token") is None


def test_the_previous_token_is_scrubbed_from_messages(fake_brms, make_provider, props_for):
    before = fake_brms.token(fake_brms.production)
    make_provider().create(props_for(fake_brms.project_id, fake_brms.production))
    assert before not in scrub(f"an error that quotes {before}")

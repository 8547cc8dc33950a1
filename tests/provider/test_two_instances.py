"""The provider against two in-memory BRMS with different PATs (issue 13): each PAT goes only to
its own BRMS, check refuses an unconfigured BRMS before any request, the diff follows the BRMS
a token lives on, and clients, list cache and outage memory are per instance."""

from __future__ import annotations

import json

import httpx
import pytest
from pulumi.dynamic import Config, ConfigureRequest

from gorules_tokens.config import HttpSettings
from gorules_tokens.errors import BrmsError, ConfigError
from gorules_tokens.process import ProcessState
from gorules_tokens.provider import EnvironmentTokenProvider
from support.provider_calls import checked_props, read_in_threads

from .conftest import FakeBRMS, fast_policy

HOME = "https://home.test"
EU = "https://eu.test"


class TwoBrms:
    """Routes by host to one FakeBRMS each and records which PAT reached which host."""

    def __init__(self) -> None:
        self.by_url = {HOME: FakeBRMS(), EU: FakeBRMS()}
        self.seen: list[tuple[str, str]] = []
        self.down: set[str] = set()

    def handler(self, request: httpx.Request) -> httpx.Response:
        url = f"{request.url.scheme}://{request.url.host}"
        self.seen.append((url, request.headers.get("authorization", "")))
        if url in self.down:
            raise httpx.ConnectError("connection refused", request=request)
        return self.by_url[url].handler(request)

    def calls(self, url: str) -> int:
        return sum(1 for u, _ in self.seen if u == url)


@pytest.fixture
def two() -> TwoBrms:
    return TwoBrms()


def configure(provider: EnvironmentTokenProvider, two: TwoBrms, eu_url: str = EU, eu_pat: str | None = None) -> None:
    raw = {
        "gorules:apiUrl": HOME,
        "gorules:token": two.by_url[HOME].pat,
        # As the engine hands it over: one JSON string, secrets decrypted.
        "gorules:instances": json.dumps({"eu": {"apiUrl": eu_url + "/api", "token": eu_pat or two.by_url[EU].pat}}),
    }
    provider.configure(ConfigureRequest(Config(raw_config=raw, project_name="gorules-tokens")))


@pytest.fixture
def provider(two: TwoBrms, clock, sleeps):
    state = ProcessState(http_settings=HttpSettings(), policy=fast_policy(sleeps), transport=httpx.MockTransport(two.handler))
    p = EnvironmentTokenProvider(state=state, clock=clock)
    configure(p, two)
    yield p
    state.close()


def props(brms: FakeBRMS, env_id: str, **extra):
    return checked_props(brms.project_id, env_id, **extra)


def test_each_pat_reaches_only_its_own_brms(provider, two) -> None:
    home, eu = two.by_url[HOME], two.by_url[EU]
    a = provider.create(props(home, home.staging))
    b = provider.create(props(eu, eu.staging, instance="eu"))
    assert a.outs["access_token"] == home.token(home.staging) and a.outs["brms_url"] == HOME
    assert b.outs["access_token"] == eu.token(eu.staging) and b.outs["brms_url"] == EU
    assert b.outs["instance"] == "eu" and "instance" not in a.outs
    assert {(url, auth) for url, auth in two.seen} == {(HOME, f"Bearer {home.pat}"), (EU, f"Bearer {eu.pat}")}


def test_check_refuses_a_brms_that_is_not_configured_without_a_request(provider, two) -> None:
    home = two.by_url[HOME]
    bad = provider.check({}, {"project_id": home.project_id, "environment_id": home.staging, "instance": "mars"})
    assert [(f.property, "unknown instance 'mars'" in f.reason) for f in bad.failures] == [("instance", True)]
    bad = provider.check({}, {"project_id": home.project_id, "environment_id": home.staging,
                              "api_url": "https://attacker.test"})
    assert [f.property for f in bad.failures] == ["api_url"]
    ok = provider.check({}, {"project_id": home.project_id, "environment_id": home.staging, "api_url": EU + "/"})
    assert ok.failures == []
    assert two.seen == []
    with pytest.raises(ConfigError, match="api_url: https://attacker.test is not the URL"):
        provider.create(props(home, home.staging, api_url="https://attacker.test"))
    # An instance that is unknown when create runs (say it was unknown at preview) never falls
    # back to the default instance's URL and PAT.
    with pytest.raises(ConfigError, match="instance: unknown instance 'mars'"):
        provider.create(props(home, home.staging, instance="mars"))
    assert two.seen == []


def test_diff_follows_the_brms_the_token_lives_on(provider, two, clock) -> None:
    eu = two.by_url[EU]
    created = provider.create(props(eu, eu.staging, instance="eu"))
    rid, outs = created.id, created.outs
    same = props(eu, eu.staging, instance="eu")
    assert provider.diff(rid, outs, same).changes is False
    # Moving the entry to the default instance: another BRMS, another token.
    assert provider.diff(rid, outs, props(eu, eu.staging)).replaces == ["instance"]
    # Rotating the instance's PAT changes no token.
    configure(provider, two, eu_pat="pat-rotated-1234567")
    assert provider.diff(rid, outs, same).changes is False
    # Changing the instance's URL replaces its tokens there.
    configure(provider, two, eu_url="https://eu-new.test")
    assert provider.diff(rid, outs, same).replaces == ["brms_url"]


def test_refresh_over_two_instances_lists_once_per_project_per_instance(provider, two) -> None:
    home, eu = two.by_url[HOME], two.by_url[EU]
    extra_home = [home.add_env(f"H{i}", f"h{i}", "brms", release=False) for i in range(3)]
    extra_eu = [eu.add_env(f"E{i}", f"e{i}", "brms", release=False) for i in range(3)]
    created = [provider.create(props(home, e)) for e in [home.staging, *extra_home]]
    created += [provider.create(props(eu, e, instance="eu")) for e in [eu.staging, *extra_eu]]
    two.seen.clear()
    home.calls.clear()
    eu.calls.clear()
    provider._state.list_cache.clear()
    results = read_in_threads(provider, created)
    assert len(results) == 8 and all(r.id for r in results)
    assert (home.count("GET", "/environments"), eu.count("GET", "/environments")) == (1, 1)
    assert two.calls(HOME) == 1 and two.calls(EU) == 1
    # One pooled client per instance.
    pool = provider._state.pool
    assert pool.get(HOME) is pool.get(HOME) and pool.get(HOME) is not pool.get(EU)


def test_an_outage_of_one_instance_fails_only_its_tokens(provider, two) -> None:
    home, eu = two.by_url[HOME], two.by_url[EU]
    two.down.add(EU)
    with pytest.raises(BrmsError):
        provider.create(props(eu, eu.staging, instance="eu"))
    spent = two.calls(EU)
    assert spent > 1  # the first call spent its retry budget ...
    with pytest.raises(BrmsError, match="not retried"):
        provider.create(props(eu, eu.production, instance="eu"))
    assert two.calls(EU) == spent  # ... later ones fail at once, remembered per URL
    created = provider.create(props(home, home.staging))  # the other instance is untouched
    assert created.outs["access_token"] == home.token(home.staging)


def test_a_token_whose_brms_is_no_longer_configured_gets_no_pat(provider, two, caplog) -> None:
    eu = two.by_url[EU]
    created = provider.create(props(eu, eu.staging, instance="eu", revoke_on_delete=True))
    configure(provider, two, eu_url="https://eu-new.test")
    two.seen.clear()
    # Refresh fails loudly (state kept); delete (the old half of a replace) does not revoke.
    moved = r"minted on the BRMS at https://eu\.test, but the stack now points at https://eu-new\.test; https://eu\.test is no longer configured"
    with pytest.raises(ConfigError, match=moved):
        provider.read(created.id, created.outs)
    provider.delete(created.id, created.outs)
    assert "not revoking" in caplog.text and two.seen == []
    assert eu.token(eu.staging) == created.outs["access_token"]


def test_deleting_a_moved_token_revokes_it_on_the_brms_it_lives_on(provider, two) -> None:
    eu = two.by_url[EU]
    created = provider.create(props(eu, eu.staging, instance="eu", revoke_on_delete=True))
    two.seen.clear()
    # The entry now names the default instance; the old token still lives on eu, whose PAT revokes it.
    outs = {**created.outs}
    outs.pop("instance")
    provider.delete(created.id, outs)
    assert {url for url, _ in two.seen} == {EU}
    assert eu.token(eu.staging) != created.outs["access_token"]


def test_a_delete_with_a_broken_instances_config_fails_and_keeps_the_token(provider, two) -> None:
    # Only "that BRMS is no longer configured" may skip a revoke; a config that does not even
    # parse must fail the delete, or the resource leaves state while its token stays live.
    home = two.by_url[HOME]
    created = provider.create(props(home, home.staging, revoke_on_delete=True))
    raw = {"gorules:apiUrl": HOME, "gorules:token": home.pat, "gorules:instances": "{not json"}
    provider.configure(ConfigureRequest(Config(raw_config=raw, project_name="gorules-tokens")))
    with pytest.raises(ConfigError, match="gorules:instances"):
        provider.delete(created.id, created.outs)
    assert home.token(home.staging) == created.outs["access_token"]


def test_a_refused_instance_pat_names_the_instance_setting(provider, two) -> None:
    eu = two.by_url[EU]
    configure(provider, two, eu_pat="pat-wrong-for-eu-12345")
    with pytest.raises(BrmsError) as info:
        provider.create(props(eu, eu.staging, instance="eu"))
    assert info.value.status == 401
    assert "gorules:instances.eu.token / GORULES_TOKEN_EU" in str(info.value)
    assert "pat-wrong-for-eu" not in str(info.value)

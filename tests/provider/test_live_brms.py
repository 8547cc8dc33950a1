"""Client and provider methods over real HTTP against localbrms (SQLite-backed).

One server per module (start-up is the slow part); each test seeds its own
project, and clears faults and metrics first.
"""

from __future__ import annotations

import traceback
from typing import Any

import httpx
import pytest

from gorules_tokens.errors import BrmsError
from gorules_tokens.fingerprint import fingerprint
from support.live_provider import admin, brms, live_brms, make_live_provider, seeded  # noqa: F401 (fixtures)
from support.provider_calls import checked_props, read_in_threads

from gorules_tokens_localbrms.testing import DEPLOY_ROUTE as DEPLOY
from gorules_tokens_localbrms.testing import ENVIRONMENTS_ROUTE as ENVIRONMENTS
from gorules_tokens_localbrms.testing import REGENERATE_ROUTE as REGENERATE

pytestmark = pytest.mark.timeout(60)


def live_token(brms, project_id: str, environment_id: str) -> str | None:
    items = admin(brms, "GET", f"/api/projects/{project_id}/environments").json()
    return next((i["accessToken"] for i in items if i["id"] == environment_id), None)


def brms_evaluate(brms, seeded, env_key: str, token: str) -> int:
    path = f"/api/projects/{seeded['projectId']}/environments/{seeded['env'][env_key]['id']}/evaluate/shipping"
    return httpx.post(brms.url + path, headers={"X-Access-Token": token}, json={"context": {"weight": 1, "country": "US"}},
                      timeout=10).status_code


def agent_evaluate(brms, seeded, token: str) -> int:
    """Status on the Agent listener once its next poll has loaded what is deployed now."""
    brms.wait_for_agent_poll()
    return brms.agent_evaluate(seeded["projectKey"], token).status_code


def count(brms, method: str, route: str, status: int | None = None) -> int:
    return brms.request_count(method=method, route=route, status=status)


# -- create ----------------------------------------------------------------


def test_create_brms_environment(brms, seeded, make_live_provider):
    staging = seeded["env"]["staging"]
    old = staging["accessToken"]
    result = make_live_provider().create(checked_props(seeded["projectId"], staging["id"]))
    token = result.outs["access_token"]
    assert token != old and token == live_token(brms, seeded["projectId"], staging["id"])
    assert result.id == f"{seeded['projectId']}/{staging['id']}"
    assert result.outs["fingerprint"] == fingerprint(token)
    assert result.outs["environment_type"] == "brms" and result.outs["redeploy_status"] == "not_needed"
    assert result.outs["release_id"] == seeded["releaseId"]
    assert brms_evaluate(brms, seeded, "staging", token) == 200
    assert brms_evaluate(brms, seeded, "staging", old) == 401
    assert count(brms, "POST", REGENERATE) == 1 and count(brms, "POST", DEPLOY) == 0


def test_create_deployment_environment_redeploys_for_agents(brms, seeded, make_live_provider):
    prod = seeded["env"]["production"]
    outs = make_live_provider().create(checked_props(seeded["projectId"], prod["id"])).outs
    assert outs["redeploy_status"] == "deployed"
    assert agent_evaluate(brms, seeded, outs["access_token"]) == 200
    assert agent_evaluate(brms, seeded, prod["accessToken"]) == 401


def test_create_without_redeploy_leaves_agents_on_old_token(brms, seeded, make_live_provider):
    prod = seeded["env"]["production"]
    provider = make_live_provider()
    p = checked_props(seeded["projectId"], prod["id"], redeploy=False)
    outs = provider.create(p).outs
    assert outs["redeploy_status"] == "skipped" and count(brms, "POST", DEPLOY) == 0
    assert agent_evaluate(brms, seeded, outs["access_token"]) == 401
    assert agent_evaluate(brms, seeded, prod["accessToken"]) == 200
    # Turning redeploy on later deploys in update and keeps the token.
    p_on = checked_props(seeded["projectId"], prod["id"])
    rid = f"{seeded['projectId']}/{prod['id']}"
    assert provider.diff(rid, outs, p_on).changes is True
    updated = provider.update(rid, outs, p_on).outs
    assert updated["redeploy_status"] == "deployed" and updated["access_token"] == outs["access_token"]
    assert agent_evaluate(brms, seeded, outs["access_token"]) == 200


def test_create_on_environment_needing_approval_records_change_request(brms, seeded, make_live_provider):
    prod = seeded["env"]["production"]
    r = admin(brms, "PUT", f"/api/projects/{seeded['projectId']}/environments/{prod['id']}",
              json={"approvalMode": "require_any"})
    assert r.status_code == 200, r.text
    outs = make_live_provider().create(checked_props(seeded["projectId"], prod["id"])).outs
    assert outs["redeploy_status"].startswith("change_request:")
    assert outs["redeploy_status"] != "change_request:unknown"


def test_adopt_existing_makes_no_regenerate_call(brms, seeded, make_live_provider):
    staging = seeded["env"]["staging"]
    outs = make_live_provider().create(checked_props(seeded["projectId"], staging["id"], adopt_existing=True)).outs
    assert outs["access_token"] == staging["accessToken"] and outs["token_source"] == "adopted"
    assert count(brms, "POST", REGENERATE) == 0 and count(brms, "GET", ENVIRONMENTS) == 1


# -- read ------------------------------------------------------------------


def test_read_adopts_out_of_band_regenerate(brms, seeded, make_live_provider):
    staging = seeded["env"]["staging"]
    provider = make_live_provider()
    created = provider.create(checked_props(seeded["projectId"], staging["id"]))
    r = admin(brms, "POST", f"/api/projects/{seeded['projectId']}/environments/{staging['id']}/regenerate-token")
    foreign = r.json()["accessToken"]
    outs = provider.read(created.id, created.outs).outs
    assert outs["access_token"] == foreign and outs["fingerprint"] == fingerprint(foreign)
    assert outs["token_source"] == "adopted_on_refresh"
    assert outs["rotated_at"] >= created.outs["rotated_at"]  # when seen (issue 26); same-second runs tie


def test_read_after_environment_deleted(brms, seeded, make_live_provider):
    staging = seeded["env"]["staging"]
    provider = make_live_provider()
    created = provider.create(checked_props(seeded["projectId"], staging["id"]))
    r = admin(brms, "DELETE", f"/api/projects/{seeded['projectId']}/environments/{staging['id']}")
    assert r.status_code == 200, r.text
    gone = make_live_provider().read(created.id, created.outs)
    assert gone.id is None and gone.outs == {}


def test_read_for_an_unknown_project_fails_and_keeps_the_state(brms, seeded, make_live_provider):
    """Issue 19 item 1 over HTTP: localbrms's own 404 "Project not found" fails the refresh
    naming the project and the fix; nothing is dropped."""
    missing = "00000000-0000-4000-8000-000000000001"
    with pytest.raises(BrmsError) as info:
        make_live_provider().read(f"{missing}/{seeded['env']['staging']['id']}", {
            "project_id": missing, "environment_id": seeded["env"]["staging"]["id"], "access_token": "x" * 20})
    assert info.value.status == 404 and missing in str(info.value) and "pulumi state delete" in str(info.value)


@pytest.mark.parametrize("status", [403, 404])
def test_a_pat_limited_to_other_projects_never_drops_or_revokes(brms, seeded, make_live_provider, status):
    """localbrms answers 403 for a project outside the PAT's scope; a BRMS answering 404 (not
    documented either way) is modelled with its own error body. Both fail refresh and delete."""
    staging = seeded["env"]["staging"]
    created = make_live_provider().create(checked_props(seeded["projectId"], staging["id"], revoke_on_delete=True))
    other = brms.seed()
    scoped = brms.create_pat(["environments:manage", "releases:deploy"], projects=[other["projectId"]])
    if status == 404:
        brms.add_fault(method="GET", route=ENVIRONMENTS, status=404, message="Project not found")
    provider = make_live_provider(pat=scoped)
    for call in (lambda: provider.read(created.id, created.outs), lambda: provider.delete(created.id, created.outs)):
        with pytest.raises(BrmsError) as info:
            call()
        assert info.value.status == status and seeded["projectId"] in str(info.value)
        _assert_secret_free(info.value, scoped, brms.pat, created.outs["access_token"])
    brms.clear_faults()
    assert live_token(brms, seeded["projectId"], staging["id"]) == created.outs["access_token"]
    assert count(brms, "POST", REGENERATE) == 1  # the create's only


def test_read_with_wrong_base_path_raises_instead_of_dropping(brms, seeded, make_live_provider, monkeypatch):
    provider = make_live_provider()
    monkeypatch.setenv("GORULES_URL", brms.url + "/nested/prefix")
    staging = seeded["env"]["staging"]
    with pytest.raises(BrmsError) as info:
        provider.read("x", {"project_id": seeded["projectId"], "environment_id": staging["id"]})
    assert info.value.status == 404


def test_refresh_of_many_tokens_uses_one_list_request(brms, seeded, make_live_provider):
    provider = make_live_provider()
    env_ids = [e["id"] for e in seeded["environments"]]
    for i in range(4):
        r = admin(brms, "POST", f"/api/projects/{seeded['projectId']}/environments",
                  json={"name": f"Extra {i}", "key": f"extra-{i}", "type": "brms"})
        assert r.status_code == 201, r.text
        env_ids.append(r.json()["id"])
    created = [provider.create(checked_props(seeded["projectId"], e, redeploy=False)) for e in env_ids]
    brms.reset_metrics()
    results = read_in_threads(provider, created)
    assert len(results) == len(env_ids) and all(r.id for r in results)
    assert {r.outs["access_token"] for r in results} == {c.outs["access_token"] for c in created}
    assert count(brms, "GET", ENVIRONMENTS) == 1


def test_connections_are_pooled(brms, seeded, make_live_provider):
    provider = make_live_provider()
    staging = seeded["env"]["staging"]
    for i in range(5):
        provider.create(checked_props(seeded["projectId"], staging["id"], keepers={"i": str(i)}))
    conns = brms.metrics()["connections"]
    assert conns["opened"] <= 2 and conns["requestsOnReusedConnections"] >= 4


# -- delete ----------------------------------------------------------------


def test_delete_without_revoke_makes_no_request(brms, seeded, make_live_provider):
    provider = make_live_provider()
    created = provider.create(checked_props(seeded["projectId"], seeded["env"]["staging"]["id"]))
    brms.reset_metrics()
    provider.delete(created.id, created.outs)
    assert brms.metrics()["requests"]["total"] == 0
    assert live_token(brms, seeded["projectId"], seeded["env"]["staging"]["id"]) == created.outs["access_token"]


def test_delete_with_revoke_and_successor_protection(brms, seeded, make_live_provider):
    provider = make_live_provider()
    staging = seeded["env"]["staging"]
    old = provider.create(checked_props(seeded["projectId"], staging["id"], revoke_on_delete=True))
    new = provider.create(checked_props(seeded["projectId"], staging["id"], revoke_on_delete=True, keepers={"v": "2"}))
    brms.reset_metrics()
    provider.delete(old.id, old.outs)  # create-before-delete replacement: must not kill `new`
    assert count(brms, "POST", REGENERATE) == 0
    assert brms_evaluate(brms, seeded, "staging", new.outs["access_token"]) == 200
    provider.delete(new.id, new.outs)  # real destroy: revoke
    assert count(brms, "POST", REGENERATE) == 1
    assert brms_evaluate(brms, seeded, "staging", new.outs["access_token"]) == 401


def test_delete_with_revoke_when_environment_gone(brms, seeded, make_live_provider):
    provider = make_live_provider()
    staging = seeded["env"]["staging"]
    created = provider.create(checked_props(seeded["projectId"], staging["id"], revoke_on_delete=True))
    admin(brms, "DELETE", f"/api/projects/{seeded['projectId']}/environments/{staging['id']}")
    brms.reset_metrics()
    provider.delete(created.id, created.outs)  # passes: nothing is left to revoke
    assert count(brms, "GET", ENVIRONMENTS, 200) == 1  # one list saw it gone ...
    assert brms.request_count(method="POST") == 0  # ... and nothing was regenerated or deployed


def test_revoke_on_deployment_environment_also_redeploys(brms, seeded, make_live_provider):
    provider = make_live_provider()
    created = provider.create(checked_props(seeded["projectId"], seeded["env"]["production"]["id"], revoke_on_delete=True))
    assert agent_evaluate(brms, seeded, created.outs["access_token"]) == 200
    provider.delete(created.id, created.outs)
    assert agent_evaluate(brms, seeded, created.outs["access_token"]) == 401


# -- errors and retries ----------------------------------------------------


def _assert_secret_free(exc: BaseException, *secrets: str) -> str:
    text = "".join(traceback.format_exception(exc))
    for secret in secrets:
        assert secret not in text
    return text


def test_401_with_bad_pat(brms, seeded, make_live_provider):
    bad = "not_a_valid_pat_" + "z" * 20
    provider = make_live_provider(pat=bad)
    staging = seeded["env"]["staging"]
    with pytest.raises(BrmsError) as info:
        provider.create(checked_props(seeded["projectId"], staging["id"]))
    text = _assert_secret_free(info.value, bad, brms.pat, staging["accessToken"])
    assert info.value.status == 401 and "regenerate-token" in text and staging["id"] in text
    assert count(brms, "POST", REGENERATE) == 1  # not retried


def test_403_with_read_only_pat(brms, seeded, make_live_provider):
    pat = brms.create_pat(["environments"])
    provider = make_live_provider(pat=pat)
    staging = seeded["env"]["staging"]
    with pytest.raises(BrmsError) as info:
        provider.create(checked_props(seeded["projectId"], staging["id"]))
    text = _assert_secret_free(info.value, pat, brms.pat, staging["accessToken"])
    assert info.value.status == 403 and "regenerate-token" in text and staging["id"] in text
    assert "GORULES_TOKEN" in text
    # the same read-only PAT is enough for adopt_existing
    outs = provider.create(checked_props(seeded["projectId"], staging["id"], adopt_existing=True)).outs
    assert outs["access_token"] == staging["accessToken"]


def test_404_unknown_environment(brms, seeded, make_live_provider):
    missing = "00000000-0000-4000-8000-0000000000aa"
    with pytest.raises(BrmsError) as info:
        make_live_provider().create(checked_props(seeded["projectId"], missing))
    text = _assert_secret_free(info.value, brms.pat)
    assert info.value.status == 404 and missing in text and "regenerate-token" in text


def test_retries_injected_503(brms, seeded, make_live_provider):
    brms.add_fault(method="POST", route=REGENERATE, status=503, times=2)
    staging = seeded["env"]["staging"]
    outs = make_live_provider().create(checked_props(seeded["projectId"], staging["id"])).outs
    assert outs["access_token"] == live_token(brms, seeded["projectId"], staging["id"])
    assert count(brms, "POST", REGENERATE, 503) == 2 and count(brms, "POST", REGENERATE, 200) == 1


def test_retries_429_honouring_retry_after(brms, seeded, make_live_provider):
    brms.add_fault(method="GET", route=ENVIRONMENTS, status=429, retry_after=1, times=1)
    staging = seeded["env"]["staging"]
    waits: list[float] = []  # what the client waited for, not a stopwatch
    provider = make_live_provider(sleep=waits.append)
    outs = provider.create(checked_props(seeded["projectId"], staging["id"], adopt_existing=True)).outs
    assert waits == [1.0]  # exactly the Retry-After, once
    assert outs["access_token"] == staging["accessToken"]
    assert count(brms, "GET", ENVIRONMENTS, 429) == 1 and count(brms, "GET", ENVIRONMENTS, 200) == 1


def test_regenerate_applied_but_response_dropped(brms, seeded, make_live_provider):
    brms.add_fault(method="POST", route=REGENERATE, drop=True, when="after", times=1)
    staging = seeded["env"]["staging"]
    outs = make_live_provider().create(checked_props(seeded["projectId"], staging["id"])).outs
    # two regenerates happened; we hold the newest, which is the live one
    assert outs["access_token"] == live_token(brms, seeded["projectId"], staging["id"])
    assert count(brms, "POST", REGENERATE) == 2


def test_persistent_outage_fails_fast_and_bounded(brms, seeded, make_live_provider):
    brms.add_fault(method="POST", route=REGENERATE, status=503)
    waits: list[float] = []
    provider = make_live_provider(max_attempts=3, sleep=waits.append)
    with pytest.raises(BrmsError) as info:
        provider.create(checked_props(seeded["projectId"], seeded["env"]["staging"]["id"]))
    # Bounded by the policy, not by how fast this machine is: 3 attempts, 2 backoffs in between.
    assert len(waits) == 2 and all(0 < w <= 0.05 + 0.01 for w in waits)
    assert info.value.status == 503 and "3 attempts" in str(info.value)
    assert count(brms, "POST", REGENERATE) == 3


def test_server_down_is_a_clear_transport_error(brms, seeded, make_live_provider, monkeypatch):
    provider = make_live_provider(max_attempts=2)
    monkeypatch.setenv("GORULES_URL", "http://127.0.0.1:9")  # discard port: connection refused
    with pytest.raises(BrmsError) as info:
        provider.create(checked_props(seeded["projectId"], seeded["env"]["staging"]["id"]))
    assert info.value.status is None and "ConnectError" in str(info.value)


def test_a_revoke_agents_still_honour_fails_the_delete_until_a_redeploy_lands(brms, seeded, make_live_provider):
    """Issue 19 item 4, on the Agent listener: the redeploy after a revoke fails (403), so the
    delete fails and the Agent still accepts the token; the next destroy (a new process)
    deploys again without regenerating, and only then does the delete pass."""
    production = seeded["env"]["production"]
    created = make_live_provider().create(checked_props(seeded["projectId"], production["id"], revoke_on_delete=True))
    token = created.outs["access_token"]
    assert agent_evaluate(brms, seeded, token) == 200
    brms.add_fault(method="POST", route=DEPLOY, status=403, message="Missing permission")
    with pytest.raises(BrmsError) as info:
        make_live_provider().delete(created.id, created.outs)
    text = _assert_secret_free(info.value, token, brms.pat)
    assert "redeploy failed:403" in text and "Agents still accept the revoked token" in text
    assert "next `pulumi destroy`" in text and "releases:deploy" in text
    assert brms_evaluate(brms, seeded, "production", token) == 401  # revoked on the BRMS ...
    assert agent_evaluate(brms, seeded, token) == 200  # ... but not on the Agent: hence the failure
    brms.clear_faults()
    make_live_provider().delete(created.id, created.outs)  # the next destroy
    assert agent_evaluate(brms, seeded, token) == 401
    assert count(brms, "POST", REGENERATE) == 2  # create and revoke: the retry only redeployed
    assert count(brms, "POST", DEPLOY, 200) == 2  # create's and the retry's

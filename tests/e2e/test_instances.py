"""Several BRMS instances in one stack (issue 13), through the real engine, against two
localbrms processes with different PATs: the default instance (`brms`) and `eu` (`brms_eu`).

Figures (requests per instance per operation) are printed with `-s` and recorded in
docs/RELIABILITY.md; reproduce with
`./scripts/test.sh tests/e2e/test_instances.py -s`.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pulumi import automation as auto

from gorules_tokens_localbrms.testing import DEPLOY_ROUTE, ENVIRONMENTS_ROUTE, REGENERATE_ROUTE, LocalBRMSServer
from support import plans, state
from support.brms import TokenStack, config_entry, env_by_name, evaluate, live_token, quiet

pytestmark = pytest.mark.engine


def counts(*servers: LocalBRMSServer) -> list[dict[str, int]]:
    """Requests per server by exact route template (a single-environment GET is not a list)."""
    return [{"list": s.request_count("GET", ENVIRONMENTS_ROUTE), "regenerate": s.request_count(route=REGENERATE_ROUTE),
             "deploy": s.request_count(route=DEPLOY_ROUTE), "all": s.request_count()} for s in servers]


def total(*servers: LocalBRMSServer) -> int:
    """Requests all `servers` answered since their last reset."""
    return sum(s.request_count() for s in servers)


def reset(*servers: LocalBRMSServer) -> None:
    for server in servers:
        server.reset_metrics()


def two_instance_stack(token_stack, brms_eu: LocalBRMSServer, entries: list[dict[str, Any]]) -> TokenStack:
    ts = token_stack(entries)
    ts.set_instance("eu", brms_eu)
    return ts


def test_one_up_rotates_a_token_on_each_instance_with_its_own_pat(token_stack, seeded, brms, seeded_eu, brms_eu):
    def entries(version: str) -> list[dict[str, Any]]:
        return [config_entry(seeded, "staging", "home-staging", keepers={"v": version}),
                config_entry(seeded_eu, "staging", "eu-staging", instance="eu", keepers={"v": version})]

    ts = two_instance_stack(token_stack, brms_eu, entries("1"))
    assert brms.pat != brms_eu.pat
    reset(brms, brms_eu)
    ts.up()
    created = counts(brms, brms_eu)
    first = ts.tokens()
    assert set(first) == {"home-staging", "eu-staging"}  # outputs keep their shape: name -> token
    assert first["home-staging"] == live_token(brms, seeded["projectId"], env_by_name(seeded, "staging")["id"])
    assert first["eu-staging"] == live_token(brms_eu, seeded_eu["projectId"], env_by_name(seeded_eu, "staging")["id"])
    assert ts.resource_outputs("eu-staging")["brms_url"] == brms_eu.url
    assert ts.resource_outputs("home-staging")["brms_url"] == brms.url
    # A wrong PAT would have been refused with 401: every request of each BRMS succeeded.
    assert brms.request_count(status=401) == 0 and brms_eu.request_count(status=401) == 0

    ts.configure(entries("2"))
    reset(brms, brms_eu)
    assert ts.preview().change_summary.get("replace") == 2
    assert total(brms, brms_eu) == 0
    ts.up()
    rotated = counts(brms, brms_eu)
    second = ts.tokens()
    for name, server, seed in (("home-staging", brms, seeded), ("eu-staging", brms_eu, seeded_eu)):
        env_id = env_by_name(seed, "staging")["id"]
        assert second[name] != first[name]
        assert evaluate(server, seed["projectId"], env_id, second[name]) == 200
        assert evaluate(server, seed["projectId"], env_id, first[name]) == 401

    reset(brms, brms_eu)
    ts.stack.refresh(on_output=quiet)
    refreshed = counts(brms, brms_eu)
    reset(brms, brms_eu)
    assert ts.preview().change_summary == {"same": 3}
    assert counts(brms, brms_eu) == [{"list": 0, "regenerate": 0, "deploy": 0, "all": 0}] * 2
    print(f"\nrequests [default, eu]: up (create) {created}; up (rotate both) {rotated}; refresh {refreshed}")
    assert [c["regenerate"] for c in rotated] == [1, 1]
    assert [c["list"] for c in refreshed] == [1, 1]
    state.assert_no_plaintext([*first.values(), *second.values(), brms.pat, brms_eu.pat],
                              state.backend_files(ts.engine.backend))


def test_refresh_of_many_tokens_lists_once_per_project_per_instance(token_stack, seeded, brms, seeded_eu, brms_eu):
    second_home, second_eu = brms.seed(), brms_eu.seed()
    entries = [config_entry(seed, env, f"{label}-{env}-{i}", instance=instance)
               for label, instance, seeds in (("home", None, (seeded, second_home)), ("eu", "eu", (seeded_eu, second_eu)))
               for i, seed in enumerate(seeds) for env in ("staging", "production")]
    ts = two_instance_stack(token_stack, brms_eu, entries)
    ts.up()
    reset(brms, brms_eu)
    ts.stack.refresh(on_output=quiet)
    refreshed = counts(brms, brms_eu)
    print(f"\nrefresh of 8 tokens, 2 projects per instance: requests [default, eu] {refreshed}")
    assert [c["list"] for c in refreshed] == [2, 2] and [c["all"] for c in refreshed] == [2, 2]


def copy_database(source: LocalBRMSServer, target: Path) -> None:
    """A restored copy of a BRMS (same ids and tokens): what a move to another address looks like."""
    with sqlite3.connect(source.db_path) as src, sqlite3.connect(target) as dst:
        src.backup(dst)


def test_moving_a_token_to_the_other_instance_replaces_it_there(token_stack, seeded, brms, tmp_path):
    # The second BRMS is a restored copy of the first: same ids, so only the instance differs.
    copy_database(brms, tmp_path / "replica.db")
    with LocalBRMSServer(tmp_path / "replica.db", pat="pat-replica-7c1e0b2a9d") as replica:
        env_id = env_by_name(seeded, "staging")["id"]
        ts = two_instance_stack(token_stack, replica, [config_entry(seeded, "staging")])
        ts.up()
        before = ts.tokens()["staging"]
        ts.configure([config_entry(seeded, "staging", instance="eu")])
        reset(brms, replica)
        preview = ts.preview(diff=True)
        assert preview.change_summary.get("replace") == 1
        assert total(brms, replica) == 0
        ts.up()
        moved = ts.tokens()["staging"]
        assert moved == live_token(replica, seeded["projectId"], env_id) != before
        assert ts.resource_outputs("staging")["brms_url"] == replica.url
        # Nothing was minted on (or revoked from) the BRMS the token left.
        assert brms.request_count(route=REGENERATE_ROUTE) == 0
        assert evaluate(brms, seeded["projectId"], env_id, before) == 200

        # Rotating the instance's PAT changes no token: the preview is silent and asks nobody.
        rotated_pat = replica.create_pat(["environments", "environments:manage", "releases:deploy"])
        ts.set_instance("eu", replica, pat=rotated_pat)
        reset(brms, replica)
        assert ts.preview().change_summary == {"same": 2}
        assert counts(brms, replica)[1]["all"] == 0

        # Changing the instance's URL (the BRMS moved again) replaces its tokens there.
        copy_database(replica, tmp_path / "moved.db")
        with LocalBRMSServer(tmp_path / "moved.db", pat=replica.pat) as moved_brms:
            ts.set_instance("eu", moved_brms, pat=rotated_pat)
            assert ts.preview().change_summary.get("replace") == 1
            ts.up()
            assert ts.tokens()["staging"] == live_token(moved_brms, seeded["projectId"], env_id)
            assert ts.resource_outputs("staging")["brms_url"] == moved_brms.url
            state.assert_no_plaintext([before, moved, brms.pat, replica.pat, rotated_pat],
                                      state.backend_files(ts.engine.backend))


@pytest.mark.parametrize("continue_on_error", [False, True])
def test_an_outage_of_one_instance_leaves_the_other_rotated(
    token_stack, engine, seeded, brms, seeded_eu, brms_eu, continue_on_error: bool
):
    """Without --continue-on-error the engine starts no new step after the first failure
    (steps already running finish), so how many of the other instance's tokens rotate
    depends on scheduling; with it, all of them do. Either way nothing is lost."""
    engine.extra_env.update(GORULES_RETRY_ATTEMPTS="2", GORULES_RETRY_DEADLINE="5")
    seeds = {"eu": [seeded_eu, brms_eu.seed(), brms_eu.seed()], "home": [seeded, brms.seed(), brms.seed()]}

    def entries(version: str) -> list[dict[str, Any]]:
        # The failing instance first, so its errors come before most of the other's steps start.
        return [config_entry(seed, env, f"{label}-{env}-{i}", instance="eu" if label == "eu" else None,
                             keepers={"v": version})
                for label in ("eu", "home") for i, seed in enumerate(seeds[label])
                for env in ("staging", "production")]

    def live(name: str) -> tuple[LocalBRMSServer, str, str]:
        label, env, i = name.split("-")
        seed = seeds[label][int(i)]
        return (brms_eu if label == "eu" else brms), seed["projectId"], env_by_name(seed, env)["id"]

    ts = two_instance_stack(token_stack, brms_eu, entries("1"))
    ts.up()
    before = ts.state_tokens()
    ts.configure(entries("2"))
    brms_eu.stop()
    reset(brms)
    with pytest.raises(auto.errors.CommandError) as failed:
        ts.up(continue_on_error=continue_on_error)
    message = str(failed.value)
    assert "BRMS unreachable" in message and f"project {seeded_eu['projectId']}" in message
    after = ts.state_tokens()
    home = [n for n in after if n.startswith("home-")]
    eu = [n for n in after if n.startswith("eu-")]
    rotated = sorted(n for n in home if after[n] != before[n])
    print(f"\noutage of eu, continue_on_error={continue_on_error}: {len(rotated)}/{len(home)} default tokens "
          f"rotated, {sum(after[n] == before[n] for n in eu)}/{len(eu)} eu tokens untouched; "
          f"default requests {counts(brms)[0]}")
    assert len(home) == len(eu) == 6 and all(after[n] == before[n] for n in eu)
    for name in home:  # rotated or not, the state holds the live token: none was lost
        assert after[name] == live_token(*live(name)), name
    if continue_on_error:
        assert rotated == sorted(home)

    brms_eu.start()
    for name in eu:
        assert evaluate(*live(name), after[name]) == 200  # the failed ones are still the live tokens
    ts.up()
    final = ts.state_tokens()
    assert all(final[n] != before[n] for n in final)
    state.assert_no_plaintext([*before.values(), *final.values(), brms.pat, brms_eu.pat],
                              state.backend_files(ts.engine.backend))


def test_an_unconfigured_instance_or_url_fails_preview_with_no_request_anywhere(
    token_stack, program_stack, seeded, brms, seeded_eu, brms_eu
):
    ts = two_instance_stack(token_stack, brms_eu, [config_entry(seeded, "staging", instance="mars")])
    reset(brms, brms_eu)
    with pytest.raises(auto.errors.CommandError) as caught:
        ts.preview()
    message = str(caught.value)
    assert "environments[0] ('staging'): field 'instance': unknown instance 'mars'" in message
    assert "Traceback" not in message

    # A program that passes api_url itself: only a configured BRMS's URL gets a PAT.
    direct = program_stack(Path(__file__).parent / "programs" / "direct", config={
        "gorules:apiUrl": auto.ConfigValue(brms.url),
        "gorules:token": auto.ConfigValue(brms.pat, secret=True),
        "direct:projectId": auto.ConfigValue(seeded["projectId"]),
        "direct:environmentId": auto.ConfigValue(env_by_name(seeded, "staging")["id"]),
        "direct:apiUrl": auto.ConfigValue(brms_eu.url),  # a real BRMS, but not configured here
    })
    with pytest.raises(auto.errors.CommandError) as caught:
        direct.preview(on_output=quiet)
    message = str(caught.value)
    assert "api_url" in message and f"{brms_eu.url} is not the URL of the default instance" in message
    assert brms.request_count() == 0 and brms_eu.request_count() == 0


def test_the_consumer_picks_a_token_of_either_instance(
    token_stack, program_stack, seeded, brms, seeded_eu, brms_eu, tmp_path
):
    ts = two_instance_stack(token_stack, brms_eu, [config_entry(seeded, "staging", "home-staging"),
                                                   config_entry(seeded_eu, "staging", "eu-staging", instance="eu")])
    ts.up()
    outputs = ts.stack.outputs()
    assert outputs["brmsUrls"].value == {"home-staging": brms.url, "eu-staging": brms_eu.url}
    consumer_dir = Path(__file__).resolve().parents[2] / "examples" / "consumer"
    for name, seed, server in (("eu-staging", seeded_eu, brms_eu), ("home-staging", seeded, brms)):
        app_config = tmp_path / f"{name}.json"
        consumer = program_stack(consumer_dir, stack_name=f"c-{name}", config={
            "gorules-consumer:tokenStack": auto.ConfigValue(f"organization/gorules-tokens/{ts.stack.name}"),
            "gorules-consumer:environment": auto.ConfigValue(name),
            "gorules-consumer:appConfigPath": auto.ConfigValue(str(app_config)),
            "gorules-consumer:projectId": auto.ConfigValue(seed["projectId"]),
            "gorules-consumer:environmentId": auto.ConfigValue(env_by_name(seed, "staging")["id"]),
        })  # no apiUrl: the consumer takes the token's BRMS from the token stack
        plans.up(consumer)
        written = json.loads(app_config.read_text())
        assert written["apiUrl"] == server.url and written["accessToken"] == ts.tokens()[name]
        app = subprocess.run([sys.executable, str(consumer_dir / "app.py"), str(app_config)],
                             capture_output=True, text=True, timeout=60)
        assert app.returncode == 0, app.stdout + app.stderr


def test_an_instance_without_a_pat_fails_the_preview_naming_its_key(token_stack, seeded, seeded_eu, brms_eu):
    ts = token_stack([config_entry(seeded_eu, "staging", "eu-staging", instance="eu")])
    ts.stack.set_config("gorules:instances.eu.apiUrl", auto.ConfigValue(brms_eu.url), path=True)
    reset(brms_eu)
    with pytest.raises(auto.errors.CommandError) as caught:  # at preview, not at the up (issue 26)
        ts.preview()
    message = str(caught.value)
    assert "no GoRules personal access token configured for instance 'eu'" in message
    assert "gorules:instances.eu.token" in message and "GORULES_TOKEN_EU" in message
    assert brms_eu.request_count() == 0

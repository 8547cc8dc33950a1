"""`gorules-tokens rollout` and `status` through the real engine: a token stack and consumer
stacks of `examples/consumer/` (another project, StackReference) on one backend, the apps
evaluating against localbrms with the token their config file holds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gorules_tokens_localbrms import testing
from support.brms import config_entry, requests_made
from support.engine import prepare_workspace
from support.plans import assert_empty_plan
from support.rollout import (CONSUMER_PROGRAM, ConsumerStack, declare_consumers, gorules_tokens, new_consumer,
                             start_gorules_tokens)

pytestmark = [pytest.mark.engine, pytest.mark.long]

REGENERATE = "regenerate-token"


def _environments(seed: dict[str, Any], rotation: str = "1") -> list[dict[str, Any]]:
    return [config_entry(seed, "staging", keepers={"rotation": rotation}), config_entry(seed, "production")]


@pytest.fixture
def fleet(engine, token_stack, seeded, tmp_path):
    """A token stack with staging and production, three consumers declared in its config:
    app-a and app-b use staging, app-c uses production; nothing deployed yet."""
    token = token_stack(_environments(seeded))
    consumers = {
        name: new_consumer(engine, token, seeded, tmp_path / f"consumer-{name}", f"app-{name}", entry)
        for name, entry in (("a", "staging"), ("b", "staging"), ("c", "production"))
    }
    declare_consumers(token, [
        {"dir": f"../consumer-{name}", "stack": f"app-{name}", "uses": [c.entry]} for name, c in consumers.items()
    ])
    return token, consumers


def _holds_current(token, consumer: ConsumerStack) -> None:
    """What the app sees and what the consumer says it holds both match the live token."""
    assert consumer.exported() == {consumer.entry: token.fingerprints()[consumer.entry]}
    app = consumer.app()
    if consumer.entry == "staging":  # production is served by an Agent, not BRMS's route
        assert app.returncode == 0, app.stdout + app.stderr


def test_rollout_updates_only_the_consumers_of_the_rotated_token(engine, fleet, seeded, brms, tmp_path: Path) -> None:
    token, consumers = fleet
    first = gorules_tokens(engine, token, "rollout", json_file=tmp_path / "first.json")
    assert first.code == 0, first.output
    assert sorted(t["entry"] for t in first.report["rotated"]) == ["production", "staging"]
    assert {c["label"]: c["outcome"] for c in first.report["consumers"]} == {
        "../consumer-a:app-a": "updated", "../consumer-b:app-b": "updated", "../consumer-c:app-c": "updated"}
    for consumer in consumers.values():
        _holds_current(token, consumer)
    before = token.fingerprints()
    c_updates = consumers["c"].updates()

    token.configure(_environments(seeded, rotation="2"))
    brms.reset_metrics()
    second = gorules_tokens(engine, token, "rollout", json_file=tmp_path / "second.json")
    assert second.code == 0, second.output
    assert requests_made(brms, REGENERATE, "POST") == 1
    [rotated] = second.report["rotated"]
    assert (rotated["entry"], rotated["oldFingerprint"]) == ("staging", before["staging"])
    assert rotated["newFingerprint"] == token.fingerprints()["staging"] != before["staging"]
    assert sorted(rotated["consumers"]) == ["../consumer-a:app-a", "../consumer-b:app-b"]
    assert rotated["windowSeconds"] is not None and rotated["windowSeconds"] >= 0
    assert {c["label"]: c["outcome"] for c in second.report["consumers"]} == {
        "../consumer-a:app-a": "updated", "../consumer-b:app-b": "updated", "../consumer-c:app-c": "not-affected"}
    assert consumers["c"].updates() == c_updates
    for consumer in consumers.values():
        _holds_current(token, consumer)
    # Converged: nothing left to do anywhere, and a rollout now runs nothing.
    for stack in (token.stack, *(c.stack for c in consumers.values())):
        assert_empty_plan(stack)
    again = gorules_tokens(engine, token, "rollout", json_file=tmp_path / "again.json")
    assert again.code == 0 and again.report["rotated"] == [] and set(_outcomes(again).values()) == {"not-affected"}


def _outcomes(run) -> dict[str, str]:
    return {c["label"]: c["outcome"] for c in run.report["consumers"]}


def _no_token_in(token, *runs) -> None:
    for run in runs:
        for value in token.tokens().values():
            assert value not in run.output and value not in str(run.report)


def test_a_failing_consumer_fails_the_rollout_and_a_rerun_converges_without_rotating(
        engine, fleet, seeded, brms, tmp_path: Path) -> None:
    token, consumers = fleet
    assert gorules_tokens(engine, token, "rollout").code == 0
    broken, good = consumers["b"], consumers["a"]
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where app-b wants its folder\n")
    broken.stack.set_config("gorules-consumer:appConfigPath", _config(blocker / "app.json"))

    token.configure(_environments(seeded, rotation="2"))
    brms.reset_metrics()
    failed = gorules_tokens(engine, token, "rollout", json_file=tmp_path / "failed.json")
    assert failed.code == 1, failed.output
    assert requests_made(brms, REGENERATE, "POST") == 1
    assert _outcomes(failed) == {"../consumer-a:app-a": "updated", "../consumer-b:app-b": "failed",
                                 "../consumer-c:app-c": "not-affected"}
    failure = next(c for c in failed.report["consumers"] if c["outcome"] == "failed")
    assert "not-a-folder" in failure["error"]
    assert failed.report["rotated"][0]["windowOpen"] is True
    assert "gorules-tokens rollout" in failed.report["nextCommand"]
    _holds_current(token, good)
    assert broken.exported() != {"staging": token.fingerprints()["staging"]}

    broken.stack.set_config("gorules-consumer:appConfigPath", _config(broken.app_config))
    a_updates, c_updates = good.updates(), consumers["c"].updates()
    brms.reset_metrics()
    rerun = gorules_tokens(engine, token, "rollout", json_file=tmp_path / "rerun.json")
    assert rerun.code == 0, rerun.output
    assert requests_made(brms, REGENERATE, "POST") == 0
    assert rerun.report["rotated"] == []
    assert _outcomes(rerun) == {"../consumer-a:app-a": "not-affected", "../consumer-b:app-b": "updated",
                                "../consumer-c:app-c": "not-affected"}
    assert (good.updates(), consumers["c"].updates()) == (a_updates, c_updates)
    _holds_current(token, broken)
    _no_token_in(token, failed, rerun)


def _config(path: Path):
    from pulumi import automation as auto
    return auto.ConfigValue(str(path))


def test_rotate_one_entry_now_and_its_consumers_follow(engine, fleet, brms, tmp_path: Path) -> None:
    token, consumers = fleet
    assert gorules_tokens(engine, token, "rollout").code == 0
    before = token.fingerprints()
    brms.reset_metrics()
    run = gorules_tokens(engine, token, "rollout", "--rotate", "production", json_file=tmp_path / "r.json")
    assert run.code == 0, run.output
    assert requests_made(brms, REGENERATE, "POST") == 1
    assert [t["entry"] for t in run.report["rotated"]] == ["production"]
    after = token.fingerprints()
    assert after["staging"] == before["staging"] and after["production"] != before["production"]
    assert _outcomes(run) == {"../consumer-a:app-a": "not-affected", "../consumer-b:app-b": "not-affected",
                              "../consumer-c:app-c": "updated"}
    _holds_current(token, consumers["c"])

    unknown = gorules_tokens(engine, token, "rollout", "--rotate", "prod")
    assert unknown.code == 2 and "'prod'" in unknown.output, unknown.output


def test_preview_changes_nothing(engine, fleet, seeded, brms, tmp_path: Path) -> None:
    token, consumers = fleet
    assert gorules_tokens(engine, token, "rollout").code == 0
    token.configure(_environments(seeded, rotation="2"))
    before, updates = token.fingerprints(), {n: c.updates() for n, c in consumers.items()}
    brms.reset_metrics()
    run = gorules_tokens(engine, token, "rollout", "--preview", "--rotate", "production",
                         json_file=tmp_path / "p.json")
    assert run.code == 0, run.output
    assert sorted(run.report["wouldRotate"]) == ["production", "staging"]
    assert set(_outcomes(run).values()) == {"would-update"}
    assert requests_made(brms, REGENERATE, "POST") == 0
    assert token.fingerprints() == before
    assert {n: c.updates() for n, c in consumers.items()} == updates

    only_staging = gorules_tokens(engine, token, "rollout", "--preview", json_file=tmp_path / "p2.json")
    assert only_staging.report["wouldRotate"] == ["staging"]
    assert _outcomes(only_staging)["../consumer-c:app-c"] == "not-affected"


def test_status_says_which_consumers_are_stale(engine, fleet, seeded, tmp_path: Path) -> None:
    token, consumers = fleet
    fresh = gorules_tokens(engine, token, "status", json_file=tmp_path / "s0.json")
    assert fresh.code == 3 and {c["status"] for c in fresh.report["consumers"]} == {"unknown"}, fresh.output
    assert gorules_tokens(engine, token, "rollout").code == 0
    current = gorules_tokens(engine, token, "status", json_file=tmp_path / "s1.json")
    assert current.code == 0, current.output
    assert {t["entry"]: t["fingerprint"] for t in current.report["tokens"]} == token.fingerprints()

    token.configure(_environments(seeded, rotation="2"))
    token.up()  # the token stack alone, as before rollouts existed
    stale = gorules_tokens(engine, token, "status", json_file=tmp_path / "s2.json")
    assert stale.code == 3, stale.output
    assert {c["consumer"]: c["status"] for c in stale.report["consumers"]} == {
        "../consumer-a:app-a": "stale", "../consumer-b:app-b": "stale", "../consumer-c:app-c": "current"}
    _no_token_in(token, fresh, current, stale)


def test_a_second_rollout_while_one_runs_fails_fast_naming_the_lock(engine, token_stack, seeded, brms,
                                                                     tmp_path: Path) -> None:
    token = token_stack(_environments(seeded))
    consumer = new_consumer(engine, token, seeded, tmp_path / "consumer-a", "app-a", "staging")
    declare_consumers(token, [{"dir": "../consumer-a", "stack": "app-a", "uses": ["staging"]}])
    assert gorules_tokens(engine, token, "rollout").code == 0
    token.configure(_environments(seeded, rotation="2"))
    brms.reset_metrics()
    # The first rollout's regenerate is held until the second rollout has ended (clearing the
    # faults releases it): its up holds the stack's lock all that time.
    brms.add_fault(method="POST", route=testing.REGENERATE_ROUTE, delay_ms=120_000, times=1)
    first = start_gorules_tokens(engine, token, "rollout", json_file=tmp_path / "first.json")
    first.wait_for_line("token stack test: up")
    first.wait_for_lock()
    second = gorules_tokens(engine, token, "rollout", json_file=tmp_path / "second.json")
    assert first.process.poll() is None, "the first rollout ended before the second one ran"
    brms.clear_faults()
    assert second.code == 1, second.output
    assert second.report["tokenStack"]["outcome"] == "locked", second.output
    # This machine's rollout lock answers first: held for the whole first rollout, not only its up.
    assert "another rollout of this token stack is running" in second.report["tokenStack"]["error"]
    assert "wait for the other rollout" in second.report["nextCommand"]
    done = first.finish()
    assert done.code == 0, done.output
    assert requests_made(brms, REGENERATE, "POST") == 1
    _holds_current(token, consumer)


def test_a_bad_consumers_list_fails_the_preview_and_the_rollout_before_any_request(engine, token_stack, seeded,
                                                                                     brms, tmp_path: Path) -> None:
    token = token_stack(_environments(seeded))
    declare_consumers(token, [{"dir": "../shop", "stack": "prod", "uses": ["stagign"]},
                              {"stack": "billing"}, {"dir": "../shop", "stack": "prod"}])
    brms.reset_metrics()
    from pulumi import automation as auto
    with pytest.raises(auto.errors.CommandError) as caught:
        token.preview()
    message = str(caught.value)
    for expected in ("consumers[0] (../shop:prod): field 'uses': unknown entry 'stagign'",
                     "consumers[1]: field 'dir': required",
                     "consumers[2] (../shop:prod): duplicate of consumers[0]"):
        assert expected in message
    assert "Traceback" not in message
    run = gorules_tokens(engine, token, "rollout")
    assert run.code == 2 and "field 'uses': unknown entry 'stagign'" in run.output, run.output
    assert requests_made(brms) == 0

    declare_consumers(token, [{"dir": "../nowhere", "stack": "prod"}])
    missing = gorules_tokens(engine, token, "rollout")
    assert missing.code == 2 and "no Pulumi project at" in missing.output, missing.output

    # A consumer project whose stack was never created: the rollout refuses, status says unknown.
    prepare_workspace(CONSUMER_PROGRAM, tmp_path / "consumer-new")
    declare_consumers(token, [{"dir": "../consumer-new", "stack": "app-new", "uses": ["staging"]}])
    not_created = gorules_tokens(engine, token, "rollout")
    assert not_created.code == 2 and "no stack 'app-new'" in not_created.output, not_created.output
    unknown = gorules_tokens(engine, token, "status", json_file=tmp_path / "status.json")
    assert unknown.code == 3 and unknown.report["consumers"][0]["status"] == "unknown", unknown.output
    assert requests_made(brms) == 0


def test_a_new_entry_that_fails_is_left_out_and_named_and_the_others_hand_off(engine, token_stack, seeded, brms,
                                                                               tmp_path: Path) -> None:
    """A failed first create has no outputs, and one unknown value would make every map
    unreadable to a StackReference (so, before issue 23, no consumer ran at all). The rollout's
    second up leaves the entry out of the maps: the other tokens' consumers get them."""
    token = token_stack(_environments(seeded))
    consumer = new_consumer(engine, token, seeded, tmp_path / "consumer-a", "app-a", "staging")
    declare_consumers(token, [{"dir": "../consumer-a", "stack": "app-a", "uses": ["staging"]}])
    assert gorules_tokens(engine, token, "rollout").code == 0
    updates = consumer.updates()
    # staging is due; "ghost" names an environment the BRMS does not have, so its create fails.
    ghost = {**config_entry(seeded, "production", name="ghost"), "environmentId": "00000000-0000-4000-8000-000000000000"}
    token.configure([*_environments(seeded, rotation="2"), ghost])
    brms.reset_metrics()
    run = gorules_tokens(engine, token, "rollout", json_file=tmp_path / "partial.json")
    assert run.code == 1, run.output
    assert run.report["tokenStack"]["outcome"] == "failed" and "ghost" in run.report["tokenStack"]["error"]
    assert [t["entry"] for t in run.report["rotated"]] == ["staging"]
    assert requests_made(brms, REGENERATE, "POST") >= 1
    [handed] = run.report["consumers"]
    assert handed["outcome"] == "updated", run.output
    assert run.report["failedEntries"] == [{"entry": "ghost", "waitingConsumers": [], "exported": False}]
    assert "ghost" not in token.masked_outputs()["fingerprints"]
    assert consumer.updates() == updates + 1
    _holds_current(token, consumer)

    token.configure(_environments(seeded, rotation="2"))
    brms.reset_metrics()
    rerun = gorules_tokens(engine, token, "rollout", json_file=tmp_path / "rerun.json")
    assert rerun.code == 0, rerun.output
    assert requests_made(brms, REGENERATE, "POST") == 0
    assert _outcomes(rerun) == {"../consumer-a:app-a": "not-affected"}
    _holds_current(token, consumer)


def test_a_consumer_failing_with_the_token_in_its_message_is_reported_scrubbed(engine, token_stack, seeded,
                                                                               tmp_path: Path) -> None:
    from pulumi import automation as auto

    from support.engine import REPO_ROOT, create_stack
    token = token_stack(_environments(seeded))
    work = prepare_workspace(REPO_ROOT / "tests" / "programs" / "leaky_consumer", tmp_path / "leaky")
    create_stack(engine, work, "leaky", {
        "leaky-consumer:tokenStack": auto.ConfigValue(f"organization/gorules-tokens/{token.stack.name}")})
    declare_consumers(token, [{"dir": "../leaky", "stack": "leaky", "uses": ["staging"]}])
    run = gorules_tokens(engine, token, "rollout", json_file=tmp_path / "leaky.json")
    assert run.code == 1, run.output
    [failed] = run.report["consumers"]
    assert failed["outcome"] == "failed" and "the app refused its token [redacted]" in failed["error"], failed
    _no_token_in(token, run)

"""The rollout's decisions as tables: what rotated, which consumers run, wait, are external or
not affected, from the outputs before and after the token stack's up and each consumer's
snapshot. No engine: every branch of a rollout under failure is decided here."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Optional

import pytest

from gorules_tokens.consumer_config import Consumer
from gorules_tokens.rollout import plan
from gorules_tokens.stack_outputs import TokenView

T0 = datetime(2026, 12, 1, tzinfo=timezone.utc)


def view(entry: str, fp: str, rotated: str = "2026-12-02T00:00:00Z") -> TokenView:
    return TokenView(entry, fp, rotated, None)


BEFORE = {"staging": view("staging", "sha256:s1", "2026-11-01T00:00:00Z"),
          "remote": view("remote", "sha256:r1", "2026-11-01T00:00:00Z")}
AFTER = {"staging": view("staging", "sha256:s2"), "remote": BEFORE["remote"]}
ENTRIES = ("staging", "remote")


def snap(uses: Optional[tuple[str, ...]], exported: Optional[dict[str, str]] = None, external: bool = False,
         last: Optional[datetime] = None, stack: str = "app") -> plan.ConsumerSnapshot:
    return plan.ConsumerSnapshot(Consumer("../app", stack, uses), external, exported, last)


@pytest.mark.parametrize("name, snapshot, action, outdated", [
    ("fingerprints of the old token", snap(("staging",), {"staging": "sha256:s1"}), plan.RUN, ("staging",)),
    ("fingerprints of the live token", snap(("staging",), {"staging": "sha256:s2"}), plan.NOT_AFFECTED, ()),
    ("exports {} (no proof of any entry)", snap(("staging",), {}), plan.RUN, ("staging",)),
    ("exports another entry only", snap(("staging",), {"remote": "sha256:r1"}), plan.RUN, ("staging",)),
    ("uses an entry that did not rotate", snap(("remote",), {"remote": "sha256:r1"}), plan.NOT_AFFECTED, ()),
    ("no fingerprints, never updated", snap(("remote",)), plan.RUN, ("remote",)),
    ("no fingerprints, updated before the rotation", snap(("staging",), last=T0), plan.RUN, ("staging",)),
    ("no fingerprints, updated after the rotation", snap(("staging",), last=datetime(2026, 12, 3, tzinfo=timezone.utc)),
     plan.NOT_AFFECTED, ()),
    # The re-run after an interrupted or failed run: the token rotated in the earlier run, the
    # consumer without fingerprints last ran before it, so it runs now (not only when rotated now).
    ("no fingerprints, rotation of an earlier run", snap(("remote",), last=T0), plan.RUN, ("remote",)),
    ("external, old token", snap(("staging",), {"staging": "sha256:s1"}, external=True), plan.EXTERNAL, ("staging",)),
    ("external, live token", snap(("staging",), {"staging": "sha256:s2"}, external=True), plan.EXTERNAL, ()),
    ("every entry (uses absent)", snap(None, {"staging": "sha256:s2", "remote": "sha256:r1"}), plan.NOT_AFFECTED, ()),
])
def test_which_consumers_run(name: str, snapshot: plan.ConsumerSnapshot, action: str, outdated: tuple) -> None:
    tokens = {**AFTER, "remote": view("remote", "sha256:r1", "2026-12-01T12:00:00Z")}
    decision = plan.decide(snapshot, tokens, (), ENTRIES)
    assert (decision.action, decision.outdated) == (action, outdated), name


def test_one_entry_failing_keeps_its_last_good_token_and_the_others_hand_off() -> None:
    """remote's instance is down: its replace failed, the second up kept its last good outputs;
    staging rotated and its consumer runs, remote's consumer waits for nothing it can read."""
    web = snap(("staging",), {"staging": "sha256:s1"}, stack="web")
    eu = snap(("remote",), {"remote": "sha256:r1"}, stack="eu-app")
    handoff = plan.hand_off(BEFORE, AFTER, ENTRIES, [web, eu], plan.UpResult(("remote",), True),
                            requested=("staging", "remote"))
    assert handoff.rotated == ("staging",)
    assert handoff.failed_entries == ("remote",) and handoff.unavailable == ()
    assert [d.label for d in handoff.with_action(plan.RUN)] == ["../app:web"]
    assert [d.label for d in handoff.with_action(plan.NOT_AFFECTED)] == ["../app:eu-app"]
    assert handoff.users_of("remote") == ["../app:eu-app"]
    assert handoff.not_rotated == ("remote",)


def test_an_entry_with_no_token_at_all_makes_its_consumers_wait_and_no_one_else() -> None:
    after = {"staging": AFTER["staging"]}  # remote left out: its first create failed
    both = snap(None, {"staging": "sha256:s1"}, stack="both")
    web = snap(("staging",), {"staging": "sha256:s1"}, stack="web")
    handoff = plan.hand_off(BEFORE, after, ENTRIES, [both, web], plan.UpResult(("remote",), True))
    assert handoff.unavailable == ("remote",)
    assert [(d.label, d.action, d.waiting_for) for d in handoff.decisions] == [
        ("../app:both", plan.WAITING, ("remote",)), ("../app:web", plan.RUN, ())]


@pytest.mark.parametrize("before, after, rotated", [
    (BEFORE, AFTER, ("staging",)),
    (BEFORE, BEFORE, ()),
    ({}, AFTER, ("staging", "remote")),  # the first rollout creates both
    (BEFORE, {"stage": AFTER["remote"], "staging": AFTER["staging"]}, ("staging",)),  # remote renamed: same token
])
def test_what_rotated_is_what_changed(before, after, rotated) -> None:
    assert plan.rotated_entries(before, after) == rotated


def test_a_rotation_by_another_run_meanwhile_is_seen() -> None:
    latest = {**AFTER, "staging": view("staging", "sha256:s3")}
    assert plan.changed_meanwhile(AFTER, latest) == ("staging",)
    assert plan.changed_meanwhile(AFTER, AFTER) == ()


def test_preview_follows_what_would_be_minted() -> None:
    current = snap(("staging",), {"staging": "sha256:s1"})
    assert plan.would_follow(current, BEFORE, ["staging"]) and not plan.would_follow(current, BEFORE, ["remote"])

"""The rollout's orchestration over fake stacks (tests/rollout/fake_stacks.py): every failure
path of issue 23 without the engine. The same scenarios run on the real engine in
tests/e2e/test_rollout_failures.py."""

from __future__ import annotations

import signal
import time
from typing import Any, Optional

from gorules_tokens.consumer_config import Consumer
from gorules_tokens.rollout.report import Report
from gorules_tokens.rollout.run import ConsumerTarget, Options, Rollout
from rollout.fake_stacks import UNKNOWN, FakeConsumer, FakeTokenStack, urn


class Harness:
    def __init__(self, entries=("staging", "remote")) -> None:
        self.token = FakeTokenStack(list(entries))
        self.targets: list[ConsumerTarget] = []
        self.signal: Optional[int] = None
        self.lines: list[str] = []

    def consumer(self, name: str, uses: tuple[str, ...], external: bool = False, **kwargs: Any) -> FakeConsumer:
        fake = FakeConsumer(self.token, uses, name=name, **kwargs)
        fake.held = {e: self.token.fingerprints[e] for e in uses}  # converged before this run
        fake.last = self.token.clock.tick()
        self.targets.append(ConsumerTarget(Consumer(f"../{name}", name, uses), fake, external))
        return fake

    def run(self, **options: Any) -> Report:
        rerun = lambda rotate: "gorules-tokens rollout" + (" --rotate " + " ".join(rotate) if rotate else "")
        return Rollout(self.token, self.targets, self.token.entries, Options(**options), self.lines.append, rerun,
                       lambda: self.signal).run()


def outcomes(report: Report) -> dict[str, str]:
    return {c.label: c.outcome for c in report.consumers}


def test_one_instance_down_never_blocks_the_hand_off_of_another() -> None:
    h = Harness()
    web = h.consumer("web", ("staging",))
    eu = h.consumer("eu-app", ("remote",))
    h.token.down = {"remote"}
    remote_before = h.token.fingerprints["remote"]
    report = h.run(rotate=("staging", "remote"))
    # The failed entry is taken out of a second up, without --replace: nothing rotates twice.
    assert h.token.calls[-2:] == [("up", {"replace": [urn("staging"), urn("remote")], "exclude": []}),
                                  ("repair", {"exclude": [urn("remote")], "leave_out": []})]
    assert UNKNOWN not in h.token.outputs()["fingerprints"].values()
    assert outcomes(report) == {"../web:web": "updated", "../eu-app:eu-app": "not-run"}
    assert "nothing it uses rotated after all" in report.consumers[1].error
    assert web.held["staging"] == h.token.fingerprints["staging"]
    # Started early for remote's rotation, it was stopped at the hand-off when remote failed.
    assert eu.held == {"remote": remote_before}
    [failed] = report.failed_entries
    assert (failed.entry, failed.waiting_consumers, failed.exported) == ("remote", ["../eu-app:eu-app"], True)
    assert [t.entry for t in report.rotated] == ["staging"]
    assert report.exit_code == 1 and report.next_command == "gorules-tokens rollout --rotate remote"


def test_a_refresh_that_cannot_reach_one_instance_refreshes_and_rotates_the_others() -> None:
    h = Harness()
    web = h.consumer("web", ("staging",))
    h.token.down = {"remote"}
    report = h.run(refresh=True, rotate=("staging",))
    assert ("refresh", {"exclude": [urn("remote")]}) in h.token.calls
    assert [t.entry for t in report.rotated] == ["staging"]
    assert outcomes(report) == {"../web:web": "updated"} and web.held["staging"] == h.token.fingerprints["staging"]
    assert report.exit_code == 1 and any("remote: refresh failed" in e for e in report.errors)


def test_external_consumers_are_not_run_and_a_stale_one_exits_3() -> None:
    h = Harness()
    h.consumer("web", ("staging",))
    other = h.consumer("billing", ("staging",), external=True)
    report = h.run(rotate=("staging",))
    assert other.ups == 0
    assert outcomes(report)["../billing:billing"] == "external"
    assert report.consumers[1].status_after == "stale" and report.exit_code == 3
    other.held = {"staging": h.token.fingerprints["staging"]}  # its own pipeline ran
    again = h.run()
    assert again.consumers[1].status_after == "current" and again.exit_code == 0


def test_a_consumer_without_fingerprints_converges_on_the_rerun_after_a_failed_run() -> None:
    h = Harness()
    silent = h.consumer("legacy", ("staging",), exports=False, fail="the app folder is read-only")
    first = h.run(rotate=("staging",))
    assert outcomes(first) == {"../legacy:legacy": "failed"} and first.exit_code == 1
    silent.fail = None
    rerun = h.run()  # nothing rotates now; it still runs, since it last succeeded before the rotation
    assert outcomes(rerun) == {"../legacy:legacy": "updated-unverified"} and rerun.exit_code == 0
    assert outcomes(h.run()) == {"../legacy:legacy": "not-affected"}


def test_updated_needs_proof_of_every_entry_it_uses() -> None:
    h = Harness()
    h.consumer("empty", ("staging",), export_only=())
    h.consumer("extra", ("staging",), export_only=("staging", "remote"))
    report = h.run(rotate=("staging",))
    runs = {c.label: c for c in report.consumers}
    assert runs["../empty:empty"].outcome == "failed" and "no fingerprint for staging" in runs["../empty:empty"].error
    assert runs["../extra:extra"].outcome == "updated"
    assert runs["../extra:extra"].warnings == ["exports fingerprints for entries it is not declared to use: remote"]
    assert report.exit_code == 1


def test_a_rotate_this_up_did_not_do_fails_naming_it() -> None:
    h = Harness()
    h.consumer("web", ("staging",))
    h.token.token_urns = lambda: {}  # not in state under that name (renamed with aliases in this run)
    report = h.run(rotate=("staging",))
    assert report.rotated == [] and any("--rotate staging" in e for e in report.errors)
    assert report.exit_code == 1 and report.next_command.endswith("--rotate staging")


def test_a_rotation_by_another_run_meanwhile_is_handed_on_before_exit_0() -> None:
    h = Harness()
    web = h.consumer("web", ("staging",))
    rotated_once = []

    def other_rollout() -> None:  # while web runs, another rollout regenerates staging
        if not rotated_once:
            rotated_once.append(True)
            h.token.mint("staging")
            h.token.exported["staging"] = h.token.fingerprints["staging"]

    web.during_up = other_rollout
    report = h.run(rotate=("staging",))
    assert web.ups == 2 and web.held["staging"] == h.token.fingerprints["staging"]
    assert report.exit_code == 0, report.lines()
    # Only this run's one request was this run's regenerate.
    assert [c for c in h.token.calls if c[0] == "up"] == [("up", {"replace": [urn("staging")], "exclude": []})]


def test_an_interrupt_during_the_consumers_reports_what_ran_and_exits_130() -> None:
    h = Harness()
    first = h.consumer("a", ("staging",))
    second = h.consumer("b", ("staging",))
    first.during_up = lambda: setattr(h, "signal", signal.SIGINT)
    report = h.run(rotate=("staging",), parallel=1, prestart=0)
    assert outcomes(report) == {"../a:a": "updated", "../b:b": "not-run"} and second.ups == 0
    assert [t.entry for t in report.rotated] == ["staging"] and report.rotated[0].window_open
    assert report.exit_code == 130 and report.next_command == "gorules-tokens rollout"
    h.signal = None
    rerun = h.run()
    assert outcomes(rerun) == {"../a:a": "not-affected", "../b:b": "updated"} and rerun.exit_code == 0


def test_an_interrupt_during_the_token_stacks_up_never_asks_to_rotate_twice() -> None:
    h = Harness()
    h.consumer("a", ("staging",))
    h.token.on_up = lambda: setattr(h, "signal", signal.SIGTERM)
    original = h.token.up

    def cancelled_up(**kwargs):
        original(**kwargs)
        from gorules_tokens.rollout.stacks import EngineError
        raise EngineError("update canceled", interrupted=True)

    h.token.up = cancelled_up
    report = h.run(rotate=("staging",))
    assert report.token_stack.outcome == "interrupted" and report.exit_code == 143
    assert [t.entry for t in report.rotated] == ["staging"]
    assert report.next_command == "gorules-tokens rollout"  # staging already rotated: no --rotate again


def test_a_hung_consumer_is_cancelled_and_the_others_go_on() -> None:
    h = Harness()
    h.consumer("hung", ("staging",), timed_out=True)
    ok = h.consumer("ok", ("staging",))
    report = h.run(rotate=("staging",), consumer_timeout=5)
    runs = {c.label: c for c in report.consumers}
    assert runs["../hung:hung"].outcome == "failed" and "--consumer-timeout 5 s" in runs["../hung:hung"].error
    assert runs["../ok:ok"].outcome == "updated" and ok.held["staging"] == h.token.fingerprints["staging"]


def test_a_locked_token_stack_rotates_nothing() -> None:
    h = Harness()
    h.consumer("a", ("staging",))
    h.token.locked = True
    report = h.run(rotate=("staging",))
    assert report.token_stack.outcome == "locked" and "pulumi cancel" in report.next_command
    assert not [c for c in h.token.calls if c[0] == "up"] and report.exit_code == 1


def test_an_unexpected_error_after_the_rotation_still_reports_it() -> None:
    h = Harness()
    h.consumer("a", ("staging",))
    readable, reads = h.token.outputs, []

    def outputs(show_secrets: bool = False) -> dict:
        reads.extend([True] if show_secrets else [])  # the rollout's own reads decrypt
        if show_secrets and len(reads) == 3:  # the final re-read, after the rotation and the consumer
            raise ValueError("bad JSON from the CLI")
        return readable(show_secrets)

    h.token.outputs = outputs
    report = h.run(rotate=("staging",))
    assert [t.entry for t in report.rotated] == ["staging"] and outcomes(report) == {"../a:a": "updated"}
    assert report.exit_code == 1 and any("bad JSON" in e for e in report.errors)


def test_a_consumer_whose_outputs_cannot_be_read_fails_naming_why() -> None:
    h = Harness()
    broken = h.consumer("a", ("staging",))
    readable = broken.outputs
    broken.outputs = lambda show_secrets=False: readable() if not broken.ups else (_ for _ in ()).throw(
        ValueError("bad JSON from the CLI"))
    report = h.run(rotate=("staging",))
    assert outcomes(report) == {"../a:a": "failed"} and "could not be read" in report.consumers[0].error


def test_consumers_start_before_the_regenerate_and_read_only_after_the_checkpoint() -> None:
    h = Harness()
    order: list[str] = []
    web = h.consumer("web", ("staging",))
    silent = h.consumer("legacy", ("staging",), exports=False)
    web.during_up = lambda: order.append("web read")
    h.token.on_up = lambda: order.append("token stack up")
    original_up = web.up

    def up(**kwargs):
        order.append("web started" + (" early" if kwargs.get("env") else ""))
        return original_up(**kwargs)

    web.up = up
    report = h.run(rotate=("staging",))
    assert report.exit_code == 0, report.lines()
    assert order.index("web started early") < order.index("token stack up") < order.index("web read")
    assert web.ups == 1 and web.held["staging"] == h.token.fingerprints["staging"]
    # A consumer without fingerprints may not wait at the hand-off: it runs after the up, as before.
    assert silent.ups == 1 and outcomes(report)["../legacy:legacy"] == "updated-unverified"
    assert any("1/1 rotated" in line for line in h.lines)


def test_the_regenerate_waits_until_every_consumer_started_early_waits_at_the_hand_off() -> None:
    """Issue 24: released into a start-up still running, a consumer's app waits for the rest of
    it. Before the fix the token stack's up began while the slow consumer was still starting."""
    h = Harness()
    order: list[str] = []
    fast = h.consumer("fast", ("staging",))
    slow = h.consumer("slow", ("staging",))
    fast.starting = lambda: order.append("fast at the hand-off")
    slow.starting = lambda: (time.sleep(0.6), order.append("slow at the hand-off"))
    h.token.on_up = lambda: order.append("token stack up")
    report = h.run(rotate=("staging",))
    assert report.exit_code == 0, report.lines()
    assert order.index("slow at the hand-off") < order.index("token stack up")
    assert order.index("fast at the hand-off") < order.index("token stack up")
    assert any(line.startswith("consumers: 2/2 waiting at the hand-off after") for line in h.lines), h.lines
    assert {fast.held["staging"], slow.held["staging"]} == {h.token.fingerprints["staging"]}


def test_a_consumer_that_never_reaches_the_hand_off_delays_the_regenerate_only_up_to_the_bound(monkeypatch) -> None:
    from gorules_tokens.rollout import run as run_module

    monkeypatch.setattr(run_module, "READY_WAIT", 0.5)
    h = Harness()
    order: list[str] = []
    late = h.consumer("late", ("staging",))
    late.starting = lambda: (time.sleep(2.0), order.append("late at the hand-off"))
    h.token.on_up = lambda: order.append("token stack up")
    report = h.run(rotate=("staging",))
    assert order == ["token stack up", "late at the hand-off"]
    assert any("0/1 waiting at the hand-off" in line and "1 still starting" in line for line in h.lines), h.lines
    # Late, it still gets the live token: the release is answered to whoever comes after it.
    assert report.exit_code == 0, report.lines()
    assert late.held["staging"] == h.token.fingerprints["staging"]


def test_an_interrupt_while_the_consumers_start_rotates_nothing() -> None:
    h = Harness()
    web = h.consumer("web", ("staging",))
    before = dict(h.token.fingerprints)
    web.starting = lambda: (setattr(h, "signal", signal.SIGINT), time.sleep(0.5))
    report = h.run(rotate=("staging",))
    assert h.token.fingerprints == before and not [c for c in h.token.calls if c[0] == "up"]
    assert report.exit_code == 130 and outcomes(report) == {"../web:web": "not-run"}
    assert web.held["staging"] == before["staging"]


def test_a_failed_token_stack_update_stops_the_waiting_consumers_without_changes() -> None:
    h = Harness()
    web = h.consumer("web", ("staging",))
    held = dict(web.held)

    def broken_up(**kwargs):
        from gorules_tokens.rollout.stacks import EngineError
        raise EngineError("error: the program failed")

    h.token.up = broken_up
    report = h.run(rotate=("staging",))
    assert web.ups == 1 and web.held == held
    assert report.exit_code == 1 and outcomes(report) == {"../web:web": "not-run"}
    assert "the token stack's update failed" in report.consumers[0].error


def test_a_config_the_program_refuses_at_preview_exits_2_and_changes_nothing() -> None:
    h = Harness()
    h.consumer("a", ("staging",))

    def refusing_preview(**kwargs):
        from gorules_tokens.rollout.stacks import EngineError
        raise EngineError("error: invalid stack config:\n  environments[0]: field 'projectId': required")

    h.token.preview = refusing_preview
    report = h.run(refresh=True, rotate=("staging",))
    assert report.exit_code == 2 and report.token_stack.outcome == "refused"
    assert "field 'projectId'" in report.token_stack.error and "pulumi preview" in report.next_command
    assert [c for c in h.token.calls if c[0] in ("refresh", "up")] == []


def test_agents_switch_only_after_every_consumer_handed_the_tokens_on() -> None:
    h = Harness(entries=("staging", "production"))
    h.token.agents = {"production"}
    order: list[str] = []
    app = h.consumer("shop", ("production",))
    app.during_up = lambda: order.append("consumer read")
    original = h.token.up

    def up(**kwargs):
        order.append("token up" + (" (deferred)" if kwargs.get("env") else ""))
        return original(**kwargs)

    h.token.up = up
    report = h.run(rotate=("production",))
    assert order == ["token up (deferred)", "consumer read", "token up"], order
    assert report.agents_switched == ["production"] and report.exit_code == 0, report.lines()
    assert not h.token.pending

"""One rollout: rotate the token stack, then hand every consumer the live token.

Order and guarantees (README "Rollout"): the token stack is previewed (a config error stops
everything there), refreshed (``--refresh``) and updated once, so each due or requested token
is regenerated once; consumers that will follow start before the regenerate and wait at the
hand-off until its checkpoint; an entry that
fails is taken out of a second ``up`` (no ``--replace``, so nothing rotates twice) that writes
every other entry's outputs, so one BRMS down never blocks another's hand-off; consumers run in
parallel, each checked by the fingerprints it exports; at the end the token stack is read again,
and a token another run rotated meanwhile is handed on too. What to do is decided by ``plan``;
this module only carries it out, through the ``stacks`` interface.
"""

from __future__ import annotations

import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping, Optional, Sequence

from ..consumer_config import Consumer
from ..deferral import DEFER_REDEPLOY_ENV
from ..errors import register_secret, scrub
from ..handoff import STOPPED
from ..schedule import parse_timestamp
from ..stack_outputs import ACCESS_TOKENS, PREVIOUS_ACCESS_TOKENS, TokenView, consumer_fingerprints, token_views
from . import plan
from .checkpoint import CheckpointWatch
from .early import EarlyStart
from .events import Steps
from .report import (STALE_READ, AGENT_NOTE, EXTERNAL, FAILED, LOCKED, NOT_AFFECTED, NOT_RUN, OUT_OF_BAND_NOTE, UNVERIFIED,
                     UPDATED, WAITING, WOULD_UPDATE, INTERRUPTED, REFUSED, FailedEntry, Report, RotatedToken, StackRun)
from .stacks import EngineError, Stack, StackLockedError, StackMissingError, TokenStack, engine_message

if TYPE_CHECKING:
    from .pats import PatReading
from .status import CURRENT, STALE

AGENT_TYPE = "deployment"
# One convergence round when another run rotated a token during this one; past that, fail.
CONVERGENCE_ROUNDS = 1
# How long a consumer started early waits at the hand-off without --consumer-timeout.
DEFAULT_WAIT = 600.0
# How long the regenerate waits for the consumers started early to reach the hand-off: 16 took
# about 15 s on two cores (bench/rollout.py); past this the rollout goes on without the slow ones.
READY_WAIT = 120.0
# The token stack's first up (and its repair) deploy no release: Agents switch in the switch up,
# after the hand-off, so apps holding {new, previous} never see a refusal.
DEFER = {DEFER_REDEPLOY_ENV: "1"}


@dataclass(frozen=True)
class Options:
    refresh: bool = False
    rotate: tuple[str, ...] = ()
    preview: bool = False
    parallel: int = 4
    consumer_timeout: Optional[float] = None
    prestart: int = 16  # consumers started before the regenerate, waiting at the hand-off
    logs: Optional[Path] = None  # a folder for each consumer's whole output


@dataclass(frozen=True)
class ConsumerTarget:
    consumer: Consumer
    stack: Stack
    external: bool = False


class ProgramRefused(Exception):
    """The token stack's preview failed in its program (invalid config): nothing changed."""


class Interrupted(Exception):
    """The operator asked the rollout to stop; what ran so far is reported."""


def _urn_list(failed: Mapping[str, str]) -> list[str]:
    return list(failed.values())


class Rollout:
    def __init__(self, token_stack: TokenStack, targets: Sequence[ConsumerTarget], entries: Sequence[str],
                 options: Options, progress: Callable[[str], None], rerun: Callable[[Sequence[str]], str],
                 interrupted: Callable[[], Optional[int]] = lambda: None,
                 pat_check: Optional[Callable[[], "PatReading"]] = None) -> None:
        self.token_stack = token_stack
        self.targets = list(targets)
        self.entries = list(entries)
        self.options = options
        self._progress = progress
        self._say_lock = threading.Lock()
        self._rerun = rerun
        self._interrupted = interrupted
        self._killed: list[tuple[Stack, Path]] = []  # runs killed after the cancel's grace
        # Reads each PAT's expiry (after the preview, before anything changes).
        self._pat_check = pat_check

    def say(self, text: str) -> None:
        with self._say_lock:
            self._progress(scrub(text))

    def _failed(self, stack: Stack, exc: BaseException) -> None:
        if isinstance(exc, EngineError) and exc.killed:
            self._killed.append((stack, stack.folder))

    def _check_interrupt(self) -> None:
        if self._interrupted() is not None:
            raise Interrupted()

    # -- reading ------------------------------------------------------------------------------

    def _read_token_stack(self, decrypt: bool = True) -> dict[str, TokenView]:
        """The token stack's tokens as views, in one CLI run. Read decrypted only so that its
        tokens (current and previous) are registered with the scrubber: no message this run
        prints can then carry one. They are dropped here and never leave this method."""
        outputs = self.token_stack.outputs(show_secrets=decrypt)
        for key in (ACCESS_TOKENS, PREVIOUS_ACCESS_TOKENS):
            secrets = outputs.pop(key, None)
            for token in secrets.values() if isinstance(secrets, dict) else ():
                if isinstance(token, str):
                    register_secret(token)
        return token_views(outputs)

    def _snapshot(self, target: ConsumerTarget) -> plan.ConsumerSnapshot:
        try:
            exported = consumer_fingerprints(target.stack.outputs())
        except StackMissingError:
            if not target.external:
                raise
            return plan.ConsumerSnapshot(target.consumer, external=True)
        # A consumer without fingerprints proves nothing but when it last ran.
        last = target.stack.last_update() if exported is None else None
        return plan.ConsumerSnapshot(target.consumer, target.external, exported, last)

    def _snapshots(self, targets: Sequence[ConsumerTarget]) -> list[plan.ConsumerSnapshot]:
        with ThreadPoolExecutor(max_workers=self.options.parallel) as pool:
            return list(pool.map(self._snapshot, targets))

    def _rotate_urns(self) -> list[str]:
        urns = self.token_stack.token_urns() if self.options.rotate else {}
        # An entry asked for but not in state yet is created by this up anyway.
        return [urns[name] for name in self.options.rotate if name in urns]

    # -- the token stack ------------------------------------------------------------------------

    def _refresh(self, report: Report) -> dict[str, str]:
        """Refreshes every token it can reach; returns the ones it could not (name -> URN)."""
        self.say(f"token stack {self.token_stack.name}: refresh")
        try:
            self.token_stack.refresh()
            return {}
        except EngineError as exc:
            self._failed(self.token_stack, exc)
            self._check_interrupt()
            if not exc.steps.only_resources_failed:
                raise
            failed = exc.steps.failed
        self.say(f"token stack {self.token_stack.name}: could not refresh {', '.join(failed)}; "
                 "refreshing the others")
        self.token_stack.refresh(exclude=_urn_list(failed))
        report.errors.extend(f"{name}: refresh failed (its last good state is kept)" for name in failed)
        return failed

    def _preview(self, replace: list[str]) -> tuple[list[str], dict[str, str]]:
        """Entries the preview would mint a token for, and the ones it could not refresh."""
        refresh = self.options.refresh and self.options.preview
        try:
            steps = self.token_stack.preview(refresh=refresh, replace=replace)
            return steps.planned, {}
        except EngineError as exc:
            self._failed(self.token_stack, exc)
            self._check_interrupt()
            if not exc.steps.failed:
                # The program refused (a config error, say) before anything was changed.
                raise ProgramRefused(scrub(engine_message(exc))) from None
            if not (refresh and exc.steps.only_resources_failed):
                raise
            failed = exc.steps.failed
        steps = self.token_stack.preview(refresh=True, replace=replace, exclude=_urn_list(failed))
        return steps.planned, failed

    def _up(self, replace: list[str], before: Mapping[str, TokenView],
            watch: Optional[Callable[[dict], None]] = None) -> tuple[Steps, Optional[str]]:
        """The token stack's update, and when some entries fail, a second one without them
        (and without ``--replace``) so the stack's outputs hold every other entry's token and
        a failed entry's last good one. Returns the first up's steps and the error, if any."""
        try:
            return self.token_stack.up(replace=replace, continue_on_error=True, on_event=watch, env=DEFER), None
        except EngineError as exc:
            self._failed(self.token_stack, exc)
            self._check_interrupt()
            steps, error = exc.steps, scrub(engine_message(exc))
        if steps.failed and steps.only_resources_failed:
            self.say(f"token stack {self.token_stack.name}: {', '.join(steps.failed)} failed; "
                     "writing the other entries' outputs")
            try:
                repaired = self.token_stack.repair(_urn_list(steps.failed), env=DEFER,
                                                   leave_out=[n for n in steps.failed if n not in before])
                steps.deferred.extend(n for n in repaired.deferred if n not in steps.deferred)
            except EngineError as exc:
                self._failed(self.token_stack, exc)
                self._check_interrupt()
                error += " | and the update without the failed entries failed: " + scrub(engine_message(exc))
        return steps, error

    # -- consumers ------------------------------------------------------------------------------

    def _log_path(self, consumer: Consumer) -> Optional[Path]:
        if self.options.logs is None:
            return None
        return self.options.logs / (re.sub(r"[^A-Za-z0-9._-]+", "_", consumer.label).strip("_") + ".log")

    def _update(self, target: ConsumerTarget, status_before: str, tokens: Callable[[], Mapping[str, TokenView]],
                env: Optional[dict[str, str]] = None) -> tuple[StackRun, Optional[datetime]]:
        """One consumer's up, judged by what it exports against ``tokens()`` (asked for only
        when its up has ended: a consumer started early may end before the token stack's up)."""
        label = target.consumer.label
        run = StackRun(label, FAILED, uses=list(target.consumer.entries(self.entries)), status_before=status_before)
        if self._interrupted() is not None:
            run.outcome = NOT_RUN
            return run, None
        log = self._log_path(target.consumer)
        run.log = str(log) if log else None
        self.say(f"consumer {label}: started ({status_before})" + (" early, waiting for the hand-off" if env else ""))
        started = time.monotonic()
        try:
            target.stack.up(log=log, timeout=self.options.consumer_timeout, env=env)
        except Exception as exc:  # whatever went wrong, it is this consumer's failure, reported
            if not isinstance(exc, (EngineError, StackLockedError, OSError)):
                exc = RuntimeError(f"{type(exc).__name__}: {exc}")
            self._failed(target.stack, exc)
            run.seconds = round(time.monotonic() - started, 1)
            if isinstance(exc, EngineError) and exc.interrupted and self._interrupted() is None:
                run.error = f"cancelled after --consumer-timeout {self.options.consumer_timeout:g} s"
            elif env and STOPPED in str(exc):
                why = str(exc).split(STOPPED, 1)[1].split("; nothing was changed", 1)[0].strip(": ")
                run.outcome, run.error = NOT_RUN, f"stopped at the hand-off, nothing changed: {scrub(why)}"
            else:
                run.error = scrub(engine_message(exc))
            self.say(f"consumer {label}: {run.outcome} after {run.seconds:.1f} s: {run.error}")
            return run, datetime.now(timezone.utc)
        run.seconds = round(time.monotonic() - started, 1)
        try:
            exported = consumer_fingerprints(target.stack.outputs())
            live = tokens()
            if exported is not None and any(exported.get(e, live[e].fingerprint) != live[e].fingerprint
                                            for e in target.consumer.entries(self.entries) if e in live):
                # It may have read a token another run minted meanwhile: judge it by what is live now.
                live = self._read_token_stack()
        except Exception as exc:
            run.error = f"its update ended, but what it exports could not be read: {scrub(engine_message(exc))}"
            return run, datetime.now(timezone.utc)
        self._verify(run, target.consumer, exported, live)
        self.say(f"consumer {label}: {run.outcome} in {run.seconds:.1f} s" + (f": {run.error}" if run.error else ""))
        return run, datetime.now(timezone.utc)

    def _verify(self, run: StackRun, consumer: Consumer, exported: Optional[Mapping[str, str]],
                tokens: Mapping[str, TokenView]) -> None:
        """``updated`` only with proof: its export names every entry it uses, each live."""
        if exported is None:
            run.outcome = UNVERIFIED
            return
        uses = consumer.entries(self.entries)
        missing = [e for e in uses if e in tokens and e not in exported]
        stale = [e for e in uses if e in tokens and e in exported and exported[e] != tokens[e].fingerprint]
        if missing:
            run.error = "finished but exports no fingerprint for " + ", ".join(missing)
        elif stale:
            run.error = f"{STALE_READ} for " + ", ".join(stale)
        else:
            run.outcome = UPDATED
        unused = sorted(set(exported) - set(uses))
        if unused:
            run.warnings.append("exports fingerprints for entries it is not declared to use: " + ", ".join(unused))

    def _run_consumers(self, todo: Sequence[tuple[ConsumerTarget, plan.Decision]], tokens: Mapping[str, TokenView],
                       runs: dict[str, StackRun], finished: dict[str, Optional[datetime]]) -> None:
        def update(pair: tuple[ConsumerTarget, plan.Decision]) -> tuple[StackRun, Optional[datetime]]:
            target, decision = pair
            return self._update(target, decision.snapshot.state(tokens).status, lambda: tokens)

        with ThreadPoolExecutor(max_workers=self.options.parallel) as pool:
            for run, end in pool.map(update, todo):
                runs[run.label] = run
                finished[run.label] = end

    # -- the whole run --------------------------------------------------------------------------

    def run(self) -> Report:
        report = Report(StackRun(self.token_stack.name, FAILED), preview=self.options.preview)
        try:
            self._run(report)
        except Interrupted:
            pass
        except StackLockedError as exc:
            report.token_stack.outcome = LOCKED
            report.token_stack.error = (f"the token stack is locked by another run ({scrub(str(exc))}); "
                                        "nothing was rotated by this one")
        except StackMissingError:
            raise  # before anything changed: a usage error
        except ProgramRefused as exc:
            report.token_stack.outcome = REFUSED
            report.token_stack.error = f"its preview failed, nothing was changed: {exc}"
        except Exception as exc:  # anything after a change still gets its report
            report.errors.append(scrub(engine_message(exc)) if isinstance(exc, EngineError)
                                 else f"{type(exc).__name__}: {scrub(str(exc))}")
        report.interrupted = self._interrupted()
        self._next_command(report)
        return report

    def _next_command(self, report: Report) -> None:
        if report.preview or report.next_command or not (report.failed or report.interrupted):
            return
        if report.token_stack.outcome == REFUSED:
            report.next_command = f"fix what the preview names (`pulumi preview --stack {self.token_stack.name}` in " \
                                  f"{self.token_stack.folder} shows it); then {self._rerun(self.options.rotate)}"
            return
        rotated = {t.entry for t in report.rotated}
        rerun = self._rerun([name for name in self.options.rotate if name not in rotated])
        if report.token_stack.outcome == LOCKED:
            report.next_command = (f"wait for the other run to finish, or, if it died, `pulumi cancel --yes --stack "
                                   f"{self.token_stack.name}` in {self.token_stack.folder}; then {rerun}")
        elif self._killed:
            cancels = "; ".join(f"`pulumi cancel --yes --stack {stack.name}` in {folder}" for stack, folder in self._killed)
            report.locks_left = [f"{stack.name} in {folder}" for stack, folder in self._killed]
            report.next_command = f"{cancels} (their runs were killed and may have left a lock); then {rerun}"
        else:
            report.next_command = rerun

    def _run(self, report: Report) -> None:
        before = self._read_token_stack(decrypt=not self.options.preview)
        snapshots = self._snapshots(self.targets)
        self._check_interrupt()
        replace = self._rotate_urns()
        # The preview first: a config error fails it before anything, a refresh included, changed.
        self.say(f"token stack {self.token_stack.name}: preview")
        would, preview_failed = self._preview(replace)
        self._check_interrupt()
        if self._pat_check is not None and not self.options.preview:
            reading = self._pat_check()
            report.pats = reading.as_json()
            report.warnings.extend(reading.warnings)
            if reading.blocking:
                report.token_stack.error = "; ".join(reading.blocking) + ": nothing was rotated"
                report.next_command = "renew the PAT and set it in the token stack's config; then " + \
                    self._rerun(self.options.rotate)
                return
        refresh_failed: dict[str, str] = {}
        if self.options.refresh and not self.options.preview:
            refresh_failed = self._refresh(report)
            self._check_interrupt()
        if self.options.preview:
            self._previewed(report, before, snapshots, would, preview_failed)
            return
        self.say(f"token stack {self.token_stack.name}: up (" + (", ".join(would) or "nothing") + " due)")
        early = EarlyStart(self._update, self._prestart_targets(snapshots, before, would),
                           self.options.consumer_timeout or DEFAULT_WAIT, self._read_token_stack)
        watch = CheckpointWatch(len(would), self.say, early.release if early.targets else None, self.token_stack.name)
        started = time.monotonic()
        try:
            early.wait_ready(READY_WAIT, self._check_interrupt, self.say)
            started = time.monotonic()
            steps, error = self._up(replace, before, watch)
        except BaseException as exc:
            early.stop("the rollout was interrupted" if isinstance(exc, Interrupted) else "the token stack's update failed")
            report.consumers.extend(early.runs_so_far())
            if isinstance(exc, Interrupted):
                report.token_stack.outcome = INTERRUPTED
                report.token_stack.seconds = round(time.monotonic() - started, 1)
                self._interrupted_up(report, before)
            raise
        report.token_stack.seconds = round(time.monotonic() - started, 1)
        report.token_stack.outcome = UPDATED if error is None else FAILED
        report.token_stack.error = error
        if error is None or steps.only_resources_failed:
            # Not released at the checkpoint (an entry failed): now, after the repair; those
            # started only for a token that did not rotate end without changes.
            early.release({t.consumer.label: "nothing it uses rotated after all"
                           for t, _status in early.targets
                           if not plan.would_follow(snapshots[self.targets.index(t)], before, steps.minted)})
        else:
            early.stop(f"the token stack's update failed: {error}")
        self.say(f"token stack {self.token_stack.name}: {report.token_stack.outcome} "
                 f"in {report.token_stack.seconds:.1f} s")
        token_end = datetime.now(timezone.utc)
        try:
            after = self._read_token_stack()
        finally:
            early.tokens_known(lambda: after)
        failed = {**refresh_failed, **steps.failed}
        handoff = plan.hand_off(before, after, self.entries, snapshots,
                                plan.UpResult(tuple(failed), error is not None), self.options.rotate)
        runs: dict[str, StackRun] = {}
        finished: dict[str, Optional[datetime]] = {}
        latest: Mapping[str, TokenView] = after
        try:
            by_label = {t.consumer.label: t for t in self.targets}
            early.collect(runs, finished)
            # One started early that read the outputs before they were written runs again now.
            todo = [(by_label[d.label], d) for d in handoff.with_action(plan.RUN)
                    if d.label not in runs or early.read_too_soon(runs[d.label])]
            self._run_consumers(todo, after, runs, finished)
            latest = self._converge(report, after, runs, finished, by_label)
        finally:
            # Interrupted or failed half-way, the report still says what rotated and what ran.
            self._fill(report, handoff, latest, runs, finished, token_end, steps.minted, before)
            self._switch_agents(report, steps.deferred)

    def _switch_agents(self, report: Report, deferred: Sequence[str]) -> None:
        """After the hand-off, an ``up`` without the deferral redeploys what the first one
        deferred, and the Agents switch at their next poll. Skipped when interrupted (the
        command to finish does it: its own switch ``up`` follows its hand-off)."""
        if not deferred:
            return
        if self._interrupted() is not None:
            report.errors.append(f"the Agents of {', '.join(deferred)} still accept only the previous token: "
                                 "the command to finish switches them")
            return
        self.say(f"token stack {self.token_stack.name}: switching the Agents of {', '.join(deferred)}")
        try:
            steps = self.token_stack.up()
        except EngineError as exc:
            self._failed(self.token_stack, exc)
            report.errors.append(f"the redeploy that switches the Agents of {', '.join(deferred)} failed: "
                                 f"{scrub(engine_message(exc))}")
            return
        report.agents_switched = list(steps.switched)
        missing = [n for n in deferred if n not in steps.switched]
        if missing:
            report.errors.append(f"the Agents of {', '.join(missing)} were not switched (their redeploy is "
                                 "still pending): run the rollout again")

    def _prestart_targets(self, snapshots: Sequence[plan.ConsumerSnapshot], before: Mapping[str, TokenView],
                          would: Sequence[str]) -> list[tuple[ConsumerTarget, str]]:
        """Consumers that will follow this rotation and read through ``TokenStackReference``
        (they export its fingerprints, so they wait at the hand-off), up to ``--prestart``."""
        if not would or self.options.prestart == 0:
            return []
        found = [(target, snapshot.state(before).status) for target, snapshot in zip(self.targets, snapshots)
                 if not target.external and snapshot.exported is not None
                 and plan.would_follow(snapshot, before, would)]
        return found[:self.options.prestart]

    def _interrupted_up(self, report: Report, before: Mapping[str, TokenView]) -> None:
        """What the cancelled up had already rotated (a masked read is allowed after an
        interrupt), so the command to finish never asks to rotate it a second time."""
        try:
            after = self._read_token_stack(decrypt=False)
        except (EngineError, OSError, ValueError):
            report.errors.append("interrupted during the token stack's update: what it rotated could not be read; "
                                 "`gorules-tokens status` shows it")
            return
        report.rotated = [RotatedToken(n, before[n].fingerprint if n in before else None, after[n].fingerprint,
                                       after[n].rotated_at, window_open=True)
                          for n in plan.rotated_entries(before, after)]

    def _converge(self, report: Report, after: Mapping[str, TokenView], runs: dict[str, StackRun],
                  finished: dict[str, Optional[datetime]], by_label: Mapping[str, ConsumerTarget]
                  ) -> Mapping[str, TokenView]:
        """Reads the token stack once more: a token rotated by another run meanwhile is handed
        on too (one round), so exit 0 means every consumer run holds the live token now."""
        current = after
        for _round in range(CONVERGENCE_ROUNDS + 1):
            self._check_interrupt()
            latest = self._read_token_stack()
            changed = plan.changed_meanwhile(current, latest)
            if not changed:
                return latest
            if _round == CONVERGENCE_ROUNDS:
                report.errors.append(f"the token stack changed again during this rollout ({', '.join(changed)}): "
                                     "another run is rotating; run this one again when it is done")
                return latest
            self.say(f"token stack {self.token_stack.name}: {', '.join(changed)} rotated by another run "
                     "meanwhile; handing it on")
            users = [t for t in self.targets if not t.external and any(e in changed for e in t.consumer.entries(self.entries))]
            decisions = [plan.decide(s, latest, (), self.entries) for s in self._snapshots(users)]
            self._run_consumers([(by_label[d.label], d) for d in decisions if d.action == plan.RUN], latest, runs,
                                finished)
            current = latest
        return current

    def _previewed(self, report: Report, before: Mapping[str, TokenView], snapshots: Sequence[plan.ConsumerSnapshot],
                   would: list[str], failed: Mapping[str, str]) -> None:
        report.token_stack.outcome = "previewed"
        report.would_rotate = would
        report.errors.extend(f"{name}: could not refresh" for name in failed)
        report.consumers = [
            StackRun(s.consumer.label, EXTERNAL if s.external
                     else WOULD_UPDATE if plan.would_follow(s, before, would) else NOT_AFFECTED,
                     uses=list(s.consumer.entries(self.entries)), status_before=s.state(before).status)
            for s in snapshots
        ]

    def _fill(self, report: Report, handoff: plan.HandOff, latest: Mapping[str, TokenView],
              runs: Mapping[str, StackRun], finished: Mapping[str, Optional[datetime]], token_end: datetime,
              minted: Sequence[str], before: Mapping[str, TokenView]) -> None:
        for decision in handoff.decisions:
            label = decision.label
            uses = list(decision.snapshot.consumer.entries(self.entries))
            status_before = decision.snapshot.state(before).status
            if label in runs:
                report.consumers.append(runs[label])
            elif decision.action == plan.WAITING:
                report.consumers.append(StackRun(label, WAITING, uses=uses, status_before=status_before,
                                                 error="waiting for " + ", ".join(decision.waiting_for)))
            elif decision.action == plan.EXTERNAL:
                # Judged against the live tokens at the end, by the rule a re-run applies.
                outdated = plan.outdated_entries(decision.snapshot, latest)
                report.consumers.append(StackRun(label, EXTERNAL, uses=uses, status_before=status_before,
                                                 status_after=STALE if outdated else CURRENT))
            else:
                report.consumers.append(StackRun(label, NOT_AFFECTED, uses=uses, status_before=status_before))
        for entry in handoff.failed_entries:
            report.failed_entries.append(FailedEntry(entry, handoff.users_of(entry), exported=entry in latest))
        for name in handoff.not_rotated:
            if name not in handoff.failed_entries:
                report.errors.append(f"--rotate {name}: this update did not rotate it (renamed in the same run? "
                                     "run the rollout again with --rotate)")
        report.rotated = self._rotated(handoff, handoff.rotated, before, latest, runs, finished, token_end, minted)

    def _rotated(self, handoff: plan.HandOff, names: Sequence[str], before: Mapping[str, TokenView],
                 after: Mapping[str, TokenView], runs: Mapping[str, StackRun],
                 finished: Mapping[str, Optional[datetime]], token_end: datetime,
                 minted: Sequence[str]) -> list[RotatedToken]:
        found = []
        for name in names:
            users = handoff.users_of(name)
            view = after.get(name)
            if view is None:
                continue
            token = RotatedToken(name, before[name].fingerprint if name in before else None,
                                 view.fingerprint, view.rotated_at, consumers=users)
            token.window_open = any(_still_open(handoff.decision(u), runs.get(u)) for u in users)
            ends = [finished[u] for u in users if finished.get(u)] or [token_end]
            if token.rotated_at and not token.window_open:
                token.window_seconds = round((max(ends) - parse_timestamp(token.rotated_at)).total_seconds(), 1)
            if view.environment_type == AGENT_TYPE:
                token.agent, token.note = True, AGENT_NOTE
            elif name not in minted and name in before:
                token.note = OUT_OF_BAND_NOTE
            found.append(token)
        return found


def _still_open(decision: plan.Decision, run: Optional[StackRun]) -> bool:
    """A consumer of a rotated token leaves its window open until it holds it: one that had to
    run and did not finish, one that waits, or an external one still outdated."""
    if decision.action == plan.NOT_AFFECTED:
        return False
    if decision.action == plan.RUN:
        return run is None or run.outcome not in (UPDATED, UNVERIFIED)
    return bool(decision.outdated) or decision.action == plan.WAITING

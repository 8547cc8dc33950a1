"""One rollout: rotate the token stack, then update exactly the consumers that need it.

Order and guarantees (README "Rollout"): the token stack is previewed and updated once, so
each due token is regenerated once; consumers that are stale afterwards (or export nothing
and use a token that just rotated) run in parallel, each verified by the fingerprints it
exports; a failing consumer never rotates anything again, and a re-run picks up only what
is still stale.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Mapping, Optional, Sequence

from pulumi import automation as auto
from pulumi.automation import events

from ..errors import register_secret, scrub
from ..schedule import parse_timestamp
from ..consumer_config import Consumer
from ..stack_outputs import ACCESS_TOKENS, TokenView, consumer_fingerprints, token_views, unreadable_entries
from .report import (AGENT_NOTE, FAILED, LOCKED, NOT_AFFECTED, UNVERIFIED, UPDATED, WOULD_UPDATE, Report,
                     RotatedToken, StackRun)
from .stacks import StackHandle, StackLockedError, engine_message
from .status import ConsumerState, assess

# Steps of a preview that mint a token for a resource.
_MINTING = {events.OpType.CREATE, events.OpType.REPLACE, events.OpType.CREATE_REPLACEMENT}
AGENT_TYPE = "deployment"


@dataclass(frozen=True)
class Options:
    refresh: bool = False
    rotate: tuple[str, ...] = ()
    preview: bool = False
    parallel: int = 4


@dataclass(frozen=True)
class ConsumerTarget:
    consumer: Consumer
    stack: StackHandle


def _quiet(_line: str) -> None:
    pass


class Rollout:
    def __init__(self, token_stack: StackHandle, targets: Sequence[ConsumerTarget], options: Options,
                 progress: Callable[[str], None], rerun: str) -> None:
        self.token_stack = token_stack
        self.targets = list(targets)
        self.options = options
        self._progress = progress
        self._say_lock = threading.Lock()
        self.rerun = rerun

    def say(self, text: str) -> None:
        with self._say_lock:
            self._progress(scrub(text))

    # -- reading ------------------------------------------------------------------------------

    def _read_token_stack(self) -> dict:
        """The token stack's outputs in one CLI run. Read decrypted only so that its tokens can
        be registered with the scrubber (no message this run prints can then carry one); they
        are dropped here and never leave this method."""
        outputs = self.token_stack.outputs(show_secrets=True)
        tokens = outputs.pop(ACCESS_TOKENS, None)
        for token in tokens.values() if isinstance(tokens, dict) else ():
            register_secret(token)
        return outputs

    def _states(self, tokens: Mapping[str, TokenView]) -> list[ConsumerState]:
        def read(target: ConsumerTarget) -> ConsumerState:
            return assess(target.consumer, consumer_fingerprints(target.stack.outputs()), tokens)

        with ThreadPoolExecutor(max_workers=self.options.parallel) as pool:
            return list(pool.map(read, self.targets))

    def _rotate_urns(self) -> list[str]:
        urns = self.token_stack.token_urns() if self.options.rotate else {}
        # An entry asked for but not in state yet is created by this up anyway.
        return [urns[name] for name in self.options.rotate if name in urns]

    # -- the token stack ------------------------------------------------------------------------

    def _preview_token_stack(self, replace: list[str]) -> list[str]:
        """Entries the token stack's preview would mint a token for."""
        minting: list[str] = []

        def watch(event: events.EngineEvent) -> None:
            pre = event.resource_pre_event
            if pre and pre.metadata.op in _MINTING and pre.metadata.type.endswith("gorules:EnvironmentToken"):
                minting.append(pre.metadata.urn.rsplit("::", 1)[-1])

        self.token_stack.preview(_quiet, on_event=watch, refresh=self.options.refresh or None,
                                 replace=replace or None)
        return list(dict.fromkeys(minting))

    # -- consumers ------------------------------------------------------------------------------

    def _update(self, target: ConsumerTarget, state: ConsumerState,
                tokens: Mapping[str, TokenView]) -> tuple[StackRun, Optional[datetime]]:
        label = target.consumer.label
        run = StackRun(label, FAILED, uses=list(state.entries), status_before=state.status)
        self.say(f"consumer {label}: started ({state.status})")
        started = time.monotonic()
        try:
            target.stack.up(_quiet)
            after = assess(target.consumer, consumer_fingerprints(target.stack.outputs()), tokens)
        except (auto.CommandError, StackLockedError, OSError) as exc:
            run.seconds = round(time.monotonic() - started, 1)
            run.error = scrub(engine_message(exc))
            self.say(f"consumer {label}: failed after {run.seconds:.1f} s: {run.error}")
            return run, datetime.now(timezone.utc)
        run.seconds = round(time.monotonic() - started, 1)
        finished = datetime.now(timezone.utc)
        if after.stale:
            run.error = "finished but still exports an old fingerprint for " + ", ".join(after.stale)
        elif after.exported is None:
            run.outcome = UNVERIFIED
        else:
            run.outcome = UPDATED
        self.say(f"consumer {label}: {run.outcome} in {run.seconds:.1f} s" + (f": {run.error}" if run.error else ""))
        return run, finished

    # -- the whole run --------------------------------------------------------------------------

    def run(self) -> Report:
        before = token_views(self.token_stack.outputs() if self.options.preview else self._read_token_stack())
        states = self._states(before)
        self.say(f"token stack {self.token_stack.name}: preview")
        report = Report(StackRun(self.token_stack.name, FAILED), preview=self.options.preview)
        # Looked up once: the preview and the up replace the same resources.
        replace = self._rotate_urns()
        try:
            would = self._preview_token_stack(replace)
        except StackLockedError as exc:
            return self._locked(report, exc)
        except auto.CommandError as exc:
            report.token_stack.error = scrub(engine_message(exc))
            report.next_command = self.rerun
            return report
        if self.options.preview:
            report.token_stack.outcome = "previewed"
            report.would_rotate = would
            report.consumers = [
                StackRun(s.consumer.label, WOULD_UPDATE if s.would_follow(would) else NOT_AFFECTED,
                         uses=list(s.entries), status_before=s.status)
                for s in states
            ]
            return report
        self.say(f"token stack {self.token_stack.name}: up (" + (", ".join(would) or "nothing") + " due)")
        started = time.monotonic()
        try:
            self.token_stack.up(_quiet, refresh=self.options.refresh or None, replace=replace or None,
                                continue_on_error=True)
            report.token_stack.outcome = UPDATED
        except StackLockedError as exc:
            return self._locked(report, exc)
        except auto.CommandError as exc:
            # Some tokens may have rotated: their consumers still follow below.
            report.token_stack.error = scrub(engine_message(exc))
            report.next_command = self.rerun
        report.token_stack.seconds = round(time.monotonic() - started, 1)
        token_end = datetime.now(timezone.utc)
        self.say(f"token stack {self.token_stack.name}: {report.token_stack.outcome} "
                 f"in {report.token_stack.seconds:.1f} s")
        outputs = self._read_token_stack()
        after = token_views(outputs)
        rotated = [name for name, view in after.items()
                   if before.get(name) is None or before[name].fingerprint != view.fingerprint]
        states = [assess(s.consumer, s.exported, after) for s in states]
        todo = [(t, s) for t, s in zip(self.targets, states) if s.needs_update(rotated)]
        finished: dict[str, Optional[datetime]] = {}
        runs: dict[str, StackRun] = {}
        unreadable = unreadable_entries(outputs)
        if unreadable:
            # Running them would only fail on an unreadable StackReference: say why instead.
            for target, state in todo:
                runs[target.consumer.label] = StackRun(
                    target.consumer.label, FAILED, uses=list(state.entries), status_before=state.status,
                    error=(f"not run: the token stack exports no token for {', '.join(unreadable)} (its update "
                           "failed), and no StackReference can read its outputs until that entry succeeds or "
                           "is removed from the config"))
            todo = []
        with ThreadPoolExecutor(max_workers=self.options.parallel) as pool:
            for run, end in pool.map(lambda pair: self._update(*pair, after), todo):
                runs[run.label] = run
                finished[run.label] = end
        report.consumers = [
            runs.get(t.consumer.label) or StackRun(t.consumer.label, NOT_AFFECTED, uses=list(s.entries),
                                                   status_before=s.status)
            for t, s in zip(self.targets, states)
        ]
        report.rotated = self._rotated(rotated, before, after, states, runs, finished, token_end)
        if report.failed and not report.next_command:
            report.next_command = self.rerun
        return report

    def _rotated(self, names: list[str], before: Mapping[str, TokenView], after: Mapping[str, TokenView],
                 states: list[ConsumerState], runs: Mapping[str, StackRun],
                 finished: Mapping[str, Optional[datetime]], token_end: datetime) -> list[RotatedToken]:
        details = self.token_stack.token_details() if names else {}
        found = []
        for name in names:
            users = [s.consumer.label for s in states if name in s.entries]
            token = RotatedToken(name, before[name].fingerprint if name in before else None,
                                 after[name].fingerprint, after[name].rotated_at, consumers=users)
            token.window_open = any(runs.get(u) is not None and runs[u].outcome == FAILED for u in users)
            ends = [finished[u] for u in users if finished.get(u)] or [token_end]
            if token.rotated_at and not token.window_open:
                token.window_seconds = round((max(ends) - parse_timestamp(token.rotated_at)).total_seconds(), 1)
            if details.get(name, {}).get("environment_type") == AGENT_TYPE:
                token.agent, token.note = True, AGENT_NOTE
            found.append(token)
        return found

    def _locked(self, report: Report, exc: StackLockedError) -> Report:
        report.token_stack.outcome = LOCKED
        report.token_stack.error = (f"the token stack is locked by another run ({scrub(str(exc))}); "
                                    "nothing was rotated by this one")
        report.next_command = (f"wait for the other run to finish, or, if it died, `pulumi cancel --stack "
                               f"{self.token_stack.name}` in {self.token_stack.folder}; then {self.rerun}")
        return report

"""Stacks for the rollout without the engine: a token stack whose entries mint, fail or are
unreachable on demand, and consumers that hand on what the token stack exports (or not),
both implementing ``gorules_tokens.rollout.stacks``. They behave as the real engine was seen
to (tests/e2e/test_rollout_failures.py): a failed replace under --continue-on-error leaves the
entry's outputs unknown until an up that excludes it; a refresh stops at an unreachable entry."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from gorules_tokens.deferral import DEFER_REDEPLOY_ENV
from gorules_tokens.handoff import HandoffStopped, wait_for_release
from gorules_tokens.rollout.events import Steps
from gorules_tokens.rollout.stacks import EngineError

UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
_serial = itertools.count(1)


def urn(name: str) -> str:
    return f"urn:pulumi:t::tokens::pulumi-python:dynamic/gorules:EnvironmentToken::{name}"


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Clock:
    now: datetime = datetime(2026, 12, 4, 12, 0, tzinfo=timezone.utc)

    def tick(self) -> datetime:
        self.now += timedelta(seconds=10)
        return self.now


@dataclass
class FakeTokenStack:
    entries: Sequence[str]
    clock: Clock = field(default_factory=Clock)
    name: str = "tokens"
    folder: Path = Path("/work/tokens")
    down: set[str] = field(default_factory=set)  # entries whose BRMS does not answer
    locked: bool = False
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    on_up: Optional[Callable[[], None]] = None
    agents: set[str] = field(default_factory=set)  # Agent-served entries: their redeploy can wait


    def __post_init__(self) -> None:
        self.fingerprints: dict[str, str] = {}
        self.rotated_at: dict[str, str] = {}
        self.exported: dict[str, str] = {}
        for entry in self.entries:
            self.mint(entry)
        self.exported = dict(self.fingerprints)
        self.pending: set[str] = set()  # deferred redeploys

    def mint(self, entry: str) -> None:
        self.fingerprints[entry] = f"sha256:{entry}-{next(_serial):04d}"
        self.rotated_at[entry] = _stamp(self.clock.tick())

    def outputs(self, show_secrets: bool = False) -> dict[str, Any]:
        known = {e: fp for e, fp in self.exported.items()}
        return {"accessTokens": {e: f"token-of-{fp}" for e, fp in known.items()} if show_secrets else "[secret]",
                "fingerprints": known,
                "rotatedAt": {e: self.rotated_at[e] if known[e] != UNKNOWN else UNKNOWN for e in known},
                "nextRotationAt": {e: None for e in known}, "brmsUrls": {}, "environmentTypes": {}}

    def last_update(self) -> Optional[datetime]:
        return None

    def token_urns(self) -> dict[str, str]:
        return {e: urn(e) for e in self.fingerprints}

    def _excluded(self, exclude: Sequence[str]) -> set[str]:
        return {u.rsplit("::", 1)[-1] for u in exclude}

    def refresh(self, exclude: Sequence[str] = ()) -> Steps:
        self.calls.append(("refresh", {"exclude": list(exclude)}))
        unreachable = self.down - self._excluded(exclude)
        if unreachable:
            raise EngineError("refresh failed", steps=Steps(failed={e: urn(e) for e in sorted(unreachable)},
                                                            general_errors=["refresh failed"], result="failed"))
        return Steps(result="succeeded")

    def preview(self, refresh: bool = False, replace: Sequence[str] = (), exclude: Sequence[str] = ()) -> Steps:
        self.calls.append(("preview", {"refresh": refresh, "replace": list(replace), "exclude": list(exclude)}))
        if self.locked:
            from gorules_tokens.rollout.stacks import StackLockedError
            raise StackLockedError("the stack is currently locked by 1 lock(s)")
        if refresh and self.down - self._excluded(exclude):
            raise EngineError("preview failed", steps=Steps(
                failed={e: urn(e) for e in sorted(self.down - self._excluded(exclude))}, result="failed"))
        return Steps(planned=[u.rsplit("::", 1)[-1] for u in replace], result="succeeded")

    def up(self, replace: Sequence[str] = (), exclude: Sequence[str] = (), continue_on_error: bool = False,
           log: Optional[Path] = None, timeout: Optional[float] = None, env: Optional[dict[str, str]] = None,
           on_event: Optional[Callable[[dict], None]] = None) -> Steps:
        self.calls.append(("up", {"replace": list(replace), "exclude": list(exclude)}))
        if self.on_up:  # as it begins: the checkpoint below releases the waiting consumers at once
            self.on_up()
        excluded = self._excluded(exclude)
        steps = Steps()
        if not (env or {}).get(DEFER_REDEPLOY_ENV):
            steps.switched, self.pending = sorted(self.pending), set()
        emit = on_event or (lambda _event: None)
        for name in (u.rsplit("::", 1)[-1] for u in replace):
            if name in self.down:
                steps.failed[name] = urn(name)
                emit({"resOpFailedEvent": {"metadata": {"op": "create-replacement", "urn": urn(name)}}})
            else:
                self.mint(name)
                steps.minted.append(name)
                if name in self.agents and (env or {}).get(DEFER_REDEPLOY_ENV):
                    self.pending.add(name)
                emit({"resOutputsEvent": {"metadata": {"op": "create-replacement", "urn": urn(name)}}})
        self.exported = {e: (UNKNOWN if e in steps.failed else self.fingerprints[e]) for e in self.fingerprints}
        emit({"resOutputsEvent": {"metadata": {"op": "same", "type": "pulumi:pulumi:Stack",
                                               "urn": "urn:pulumi:t::tokens::pulumi:pulumi:Stack::tokens-t"}}})
        emit({"summaryEvent": {"result": "failed" if steps.failed else "succeeded"}})
        for name in excluded:
            self.exported[name] = self.fingerprints[name]
        steps.deferred = sorted(self.pending)
        if steps.failed:
            steps.result = "failed"
            raise EngineError("  pulumi-python:dynamic/gorules:EnvironmentToken (x):\n    error: BRMS unreachable",
                              steps=steps)
        steps.result = "succeeded"
        return steps


    def repair(self, exclude: Sequence[str], leave_out: Sequence[str] = (),
               env: Optional[dict[str, str]] = None) -> Steps:
        self.calls.append(("repair", {"exclude": list(exclude), "leave_out": list(leave_out)}))
        for name in self._excluded(exclude):
            if name in leave_out:
                self.exported.pop(name, None)
            else:
                self.exported[name] = self.fingerprints[name]
        return Steps(result="succeeded")


@dataclass
class FakeConsumer:
    """Reads ``uses`` from the token stack and exports their fingerprints, as TokenStackReference does."""

    token: FakeTokenStack
    uses: Sequence[str]
    name: str = "app"
    folder: Path = Path("/work/app")
    exports: bool = True
    export_only: Optional[Sequence[str]] = None  # a program that forgets some entries
    fail: Optional[str] = None
    timed_out: bool = False
    during_up: Optional[Callable[[], None]] = None
    starting: Optional[Callable[[], None]] = None  # its start-up, before it reaches the hand-off
    ups: int = 0
    last: Optional[datetime] = None

    def __post_init__(self) -> None:
        self.held: dict[str, str] = {}

    def outputs(self, show_secrets: bool = False) -> dict[str, Any]:
        if not self.exports:
            return {}
        return {"gorulesTokenFingerprints": dict(self.held)}

    def last_update(self) -> Optional[datetime]:
        return self.last

    def up(self, replace: Sequence[str] = (), exclude: Sequence[str] = (), continue_on_error: bool = False,
           log: Optional[Path] = None, timeout: Optional[float] = None, env: Optional[dict[str, str]] = None,
           on_event: Optional[Callable[[dict], None]] = None) -> Steps:
        self.ups += 1
        if self.starting:
            self.starting()
        if env:  # started early by the rollout: waits at the real hand-off, as TokenStackReference does
            try:
                wait_for_release(False, env)
            except HandoffStopped as exc:
                raise EngineError(f"error: {exc}") from None
        if self.timed_out:
            raise EngineError("update canceled", interrupted=True)
        if self.fail:
            raise EngineError(f"error: {self.fail}")
        exported = self.token.outputs()["fingerprints"]
        if any(exported.get(e) in (None, UNKNOWN) for e in self.uses):
            raise EngineError("error: the token stack's outputs are unknown")
        keep = self.uses if self.export_only is None else self.export_only
        self.held = {e: exported[e] for e in keep}
        if self.during_up:  # after it read the token stack, before its up ends
            self.during_up()
        self.last = self.token.clock.tick()
        return Steps(result="succeeded")

"""What a rollout does, decided only from what the stacks said: no engine, no clock, no I/O.

Every branch of a rollout (what rotated, which consumers run, which wait for a failed entry,
which live in another repository, whether another run rotated meanwhile) is a function of
the token stack's outputs before and after its ``up``, the up's own result and each
consumer's snapshot, so all of them are tested as tables (``tests/rollout/test_plan.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Mapping, Optional, Sequence

from ..consumer_config import Consumer
from ..schedule import parse_timestamp
from ..stack_outputs import TokenView
from .status import ConsumerState, assess

# What the rollout does with one consumer.
RUN = "run"
EXTERNAL = "external"  # in another repository: not run here, its status is reported
WAITING = "waiting"  # uses an entry whose token the token stack could not produce
NOT_AFFECTED = "not-affected"


@dataclass(frozen=True)
class ConsumerSnapshot:
    """One consumer as the rollout found it.

    ``exported``: its ``gorulesTokenFingerprints`` (None: it exports none). ``last_update``:
    when its last successful update ended (None: never, or not readable), which is the only
    evidence a consumer without fingerprints gives that it ran after a rotation."""

    consumer: Consumer
    external: bool = False
    exported: Optional[Mapping[str, str]] = None
    last_update: Optional[datetime] = None

    def state(self, tokens: Mapping[str, TokenView]) -> ConsumerState:
        return assess(self.consumer, self.exported, tokens)


def outdated_entries(snapshot: ConsumerSnapshot, tokens: Mapping[str, TokenView]) -> tuple[str, ...]:
    """The entries it uses whose live token it cannot be shown to hold.

    With fingerprints: every entry whose fingerprint differs or is missing from its export.
    Without: every entry rotated after its last successful update (or all, if it never had
    one), so a re-run converges whatever interrupted the previous run."""
    found = []
    for entry in snapshot.consumer.entries(tokens):
        token = tokens.get(entry)
        if token is None:
            continue
        if snapshot.exported is not None:
            if snapshot.exported.get(entry) != token.fingerprint:
                found.append(entry)
        elif snapshot.last_update is None or (
                token.rotated_at is not None and parse_timestamp(token.rotated_at) > snapshot.last_update):
            found.append(entry)
    return tuple(found)


@dataclass(frozen=True)
class UpResult:
    """What the token stack's ``up`` said of itself (its engine events): the entries whose
    step failed, and whether the command as a whole failed."""

    failed_entries: tuple[str, ...] = ()
    failed: bool = False


@dataclass(frozen=True)
class Decision:
    snapshot: ConsumerSnapshot
    action: str
    outdated: tuple[str, ...] = ()
    waiting_for: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return self.snapshot.consumer.label


@dataclass(frozen=True)
class HandOff:
    """What follows the token stack's ``up``."""

    rotated: tuple[str, ...]
    failed_entries: tuple[str, ...]
    # Entries the token stack exports no token for (a failed first create): their consumers wait.
    unavailable: tuple[str, ...]
    decisions: tuple[Decision, ...]
    all_entries: tuple[str, ...]
    # --rotate entries this up did not rotate.
    not_rotated: tuple[str, ...] = ()

    def with_action(self, action: str) -> list[Decision]:
        return [d for d in self.decisions if d.action == action]

    def users_of(self, entry: str) -> list[str]:
        """Every consumer that reads ``entry``, run here or not."""
        return [d.label for d in self.decisions if entry in d.snapshot.consumer.entries(self.all_entries)]

    def decision(self, label: str) -> Decision:
        return next(d for d in self.decisions if d.label == label)


def rotated_entries(before: Mapping[str, TokenView], after: Mapping[str, TokenView]) -> tuple[str, ...]:
    """Entries whose live token is not one exported before: minted by this run, by a refresh
    that adopted an out-of-band regenerate, or by another run meanwhile. An entry renamed with
    ``aliases`` keeps its token under the new name: that is not a rotation."""
    known = {view.fingerprint for view in before.values()}
    return tuple(name for name, view in after.items()
                 if (before[name].fingerprint != view.fingerprint if name in before else view.fingerprint not in known))


def decide(snapshot: ConsumerSnapshot, tokens: Mapping[str, TokenView], unavailable: Sequence[str],
           all_entries: Sequence[str]) -> Decision:
    uses = snapshot.consumer.entries(all_entries)
    waiting = tuple(e for e in uses if e in unavailable)
    outdated = outdated_entries(snapshot, tokens)
    if waiting:
        return Decision(snapshot, WAITING, outdated, waiting)
    if snapshot.external:
        return Decision(snapshot, EXTERNAL, outdated)
    return Decision(snapshot, RUN if outdated else NOT_AFFECTED, outdated)


def hand_off(before: Mapping[str, TokenView], after: Mapping[str, TokenView], all_entries: Sequence[str],
             snapshots: Sequence[ConsumerSnapshot], up: UpResult, requested: Sequence[str] = ()) -> HandOff:
    """Which consumers run after the token stack's ``up``, which wait, which are external."""
    rotated = rotated_entries(before, after)
    unavailable = tuple(e for e in all_entries if e not in after)
    decisions = tuple(decide(s, after, unavailable, all_entries) for s in snapshots)
    return HandOff(rotated=rotated, failed_entries=tuple(up.failed_entries), unavailable=unavailable,
                   decisions=decisions, all_entries=tuple(all_entries),
                   not_rotated=tuple(r for r in requested if r not in rotated))


def would_follow(snapshot: ConsumerSnapshot, tokens: Mapping[str, TokenView], minting: Sequence[str]) -> bool:
    """``--preview``: outdated already, or it uses a token about to be minted."""
    uses = snapshot.consumer.entries(tokens)
    return bool(outdated_entries(snapshot, tokens)) or any(e in minting for e in uses)


def changed_meanwhile(after: Mapping[str, TokenView], latest: Mapping[str, TokenView]) -> tuple[str, ...]:
    """Entries whose token changed between this run's up and its end: another run rotated them."""
    return tuple(name for name, view in latest.items() if name in after and after[name].fingerprint != view.fingerprint)

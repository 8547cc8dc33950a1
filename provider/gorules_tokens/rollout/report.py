"""What a rollout did and what ``status`` found, for people (``lines``) and for tooling
(``to_json``, ``--json FILE``). Both hold fingerprints, timestamps, stack names and scrubbed
one-line engine messages only; a consumer's whole output goes to its log file instead.

Exit codes live here too, since they are read off the report: 0 every consumer it ran holds
the live token and every external one is current; 1 something failed; 2 the token stack's
config was refused at preview (nothing changed); 3 an external consumer is stale (nothing
failed); 128 + the signal's number when interrupted.
"""

from __future__ import annotations

import json
import signal
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

# Outcomes of one stack in a rollout.
UPDATED = "updated"
UNVERIFIED = "updated-unverified"  # ran, but exports no gorulesTokenFingerprints to check
FAILED = "failed"
NOT_AFFECTED = "not-affected"
WOULD_UPDATE = "would-update"  # --preview
LOCKED = "locked"
REFUSED = "refused"  # the token stack's program refused its config at preview: nothing changed
WAITING = "waiting"  # uses an entry that failed: not run, named with the entry
EXTERNAL = "external"  # another repository's: not run, its status reported
NOT_RUN = "not-run"  # would have run, but the rollout was interrupted first
INTERRUPTED = "interrupted"

# The error of a consumer that read the token stack before the rotation was written.
STALE_READ = "finished but still exports an old fingerprint"

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NOT_CURRENT = 0, 1, 2, 3

AGENT_NOTE = (
    "served by an Agent: its release is redeployed only after every consumer handed the tokens on, and "
    "the Agent switches at its next storage poll (POLL_INTERVAL, 5 s by default); apps holding the new and "
    "the previous token see no refusal"
)
OUT_OF_BAND_NOTE = "changed outside this stack (adopted by the refresh): rotatedAt is when it was seen"

_CAMEL = {"old_fingerprint": "oldFingerprint", "new_fingerprint": "newFingerprint", "rotated_at": "rotatedAt",
          "window_seconds": "windowSeconds", "window_open": "windowOpen", "status_before": "statusBefore",
          "status_after": "statusAfter", "token_stack": "tokenStack", "would_rotate": "wouldRotate",
          "next_command": "nextCommand", "failed_entries": "failedEntries", "waiting_consumers": "waitingConsumers",
          "next_rotation_at": "nextRotationAt", "locks_left": "locksLeft",
          "agents_switched": "agentsSwitched"}


def _camel(value: Any) -> Any:
    if isinstance(value, dict):
        return {_CAMEL.get(k, k): _camel(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_camel(v) for v in value]
    return value


@dataclass
class StackRun:
    """The token stack's or one consumer's part in the rollout."""

    label: str
    outcome: str
    seconds: Optional[float] = None
    error: Optional[str] = None
    uses: Optional[list[str]] = None
    status_before: Optional[str] = None
    status_after: Optional[str] = None
    log: Optional[str] = None
    warnings: list[str] = field(default_factory=list)


@dataclass
class RotatedToken:
    """One token regenerated (or found changed) in this rollout, and how long apps waited."""

    entry: str
    old_fingerprint: Optional[str]
    new_fingerprint: str
    rotated_at: Optional[str]
    consumers: list[str] = field(default_factory=list)
    # From the regenerate (rotatedAt) to the end of the last consumer using it; None while open.
    window_seconds: Optional[float] = None
    window_open: bool = False
    agent: bool = False
    note: Optional[str] = None


@dataclass
class FailedEntry:
    """An entry the token stack could not refresh or update; its consumers wait for it."""

    entry: str
    waiting_consumers: list[str]
    # Whether the token stack still exports its last good token (else it is left out).
    exported: bool


@dataclass
class Report:
    token_stack: StackRun
    preview: bool = False
    rotated: list[RotatedToken] = field(default_factory=list)
    would_rotate: list[str] = field(default_factory=list)
    failed_entries: list[FailedEntry] = field(default_factory=list)
    consumers: list[StackRun] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    interrupted: Optional[int] = None  # the signal's number
    # Agent-served entries whose release was deployed after the hand-off (their Agents switch
    # at their next poll).
    agents_switched: list[str] = field(default_factory=list)
    pats: list[dict] = field(default_factory=list)  # each configured PAT's expiry, read this run
    # Stacks whose engine run had to be killed: the backend may still hold their lock.
    locks_left: list[str] = field(default_factory=list)
    next_command: Optional[str] = None

    @property
    def failed(self) -> bool:
        return (self.token_stack.outcome in (FAILED, LOCKED, REFUSED) or bool(self.errors) or bool(self.failed_entries)
                or any(c.outcome in (FAILED, WAITING) for c in self.consumers))

    @property
    def externals_stale(self) -> bool:
        return any(c.outcome == EXTERNAL and c.status_after != "current" for c in self.consumers)

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return 128 + self.interrupted
        if self.token_stack.outcome == REFUSED:
            return EXIT_USAGE
        if self.failed:
            return EXIT_FAILED
        return EXIT_NOT_CURRENT if self.externals_stale else EXIT_OK

    def to_json(self) -> dict:
        data = _camel(asdict(self))
        data["interrupted"] = signal.Signals(self.interrupted).name if self.interrupted else None
        return {**data, "exitCode": self.exit_code}

    def write_json(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n")

    def lines(self) -> list[str]:
        out = [f"token stack {self.token_stack.label}: {_outcome(self.token_stack)}"]
        if self.preview:
            out.append("would rotate: " + (", ".join(self.would_rotate) or "nothing"))
        for token in self.rotated:
            window = ("open (a consumer using it did not finish)" if token.window_open
                      else f"{token.window_seconds:.1f} s" if token.window_seconds is not None else "n/a")
            out.append(f"rotated {token.entry}: {token.old_fingerprint or '(new)'} -> {token.new_fingerprint} "
                       f"at {token.rotated_at or 'an unknown time'}; window {window}; "
                       f"consumers: {', '.join(token.consumers) or 'none'}")
            if token.note:
                out.append(f"  note: {token.note}")
        for entry in self.failed_entries:
            kept = "its last good token is still exported" if entry.exported else "left out of the outputs"
            out.append(f"failed {entry.entry} ({kept}); waiting for it: {', '.join(entry.waiting_consumers) or 'none'}")
        for consumer in self.consumers:
            out.append(f"consumer {consumer.label}: {_outcome(consumer)}")
            out.extend(f"  warning: {w}" for w in consumer.warnings)
        if self.agents_switched:
            out.append(f"agents switched (redeployed after the hand-off): {', '.join(self.agents_switched)}")
        out.extend(f"error: {e}" for e in self.errors)
        out.extend(f"warning: {w}" for w in self.warnings)
        if self.interrupted:
            out.append(f"interrupted by {signal.Signals(self.interrupted).name}")
        if self.next_command:
            out.append(f"to finish: {self.next_command}")
        return out


def _outcome(run: StackRun) -> str:
    text = run.outcome
    if run.seconds is not None:
        text += f" in {run.seconds:.1f} s"
    if run.status_before and run.outcome in (NOT_AFFECTED, WOULD_UPDATE):
        text += f" ({run.status_before})"
    if run.status_after and run.outcome == EXTERNAL:
        text += f" ({run.status_after})"
    if run.error:
        text += f": {run.error}"
    if run.log:
        text += f" (log: {run.log})"
    return text


@dataclass
class TokenStatus:
    entry: str
    fingerprint: str
    rotated_at: Optional[str]
    next_rotation_at: Optional[str]
    due: bool


@dataclass
class ConsumerStatus:
    consumer: str
    dir: str
    stack: str
    status: str
    entries: dict[str, str]


@dataclass
class StatusReport:
    """``gorules-tokens status``: what the token stack exports and what each consumer holds."""

    token_stack: str
    pats: Optional[dict] = None  # the last PAT expiry reading a rollout recorded
    tokens: list[TokenStatus] = field(default_factory=list)
    consumers: list[ConsumerStatus] = field(default_factory=list)
    problem: Optional[str] = None  # why nothing can be compared (a stack never deployed)

    @property
    def exit_code(self) -> int:
        current = self.problem is None and all(c.status == "current" for c in self.consumers)
        return EXIT_OK if current else EXIT_NOT_CURRENT

    def to_json(self) -> dict:
        return {**_camel(asdict(self)), "exitCode": self.exit_code}

    def write_json(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n")

    def lines(self) -> list[str]:
        out = [f"token stack {self.token_stack}: {self.problem}"] if self.problem else []
        for t in self.tokens:
            out.append(f"token {t.entry}: {t.fingerprint} rotatedAt {t.rotated_at or '-'} "
                       f"nextRotationAt {t.next_rotation_at or '-'}" + (" DUE" if t.due else ""))
        for c in self.consumers:
            detail = ", ".join(f"{entry} {found}" for entry, found in c.entries.items())
            out.append(f"consumer {c.consumer}: {c.status} ({detail or 'uses no entry'})")
        if self.pats:
            for pat in self.pats.get("pats", []):
                out.append(f"PAT of {pat['label']}: expires {pat['expires_at'] or 'never'} "
                           f"(read by the rollout at {self.pats.get('readAt')})")
        return out

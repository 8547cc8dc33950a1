"""What a rollout did, for people (``lines``) and for tooling (``to_json``, ``--json FILE``).

The report holds fingerprints, timestamps, stack names and scrubbed engine messages only.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

# Outcomes of one stack in a rollout.
UPDATED = "updated"
UNVERIFIED = "updated-unverified"  # ran, but exports no gorulesTokenFingerprints to check
FAILED = "failed"
NOT_AFFECTED = "not-affected"
WOULD_UPDATE = "would-update"  # --preview
LOCKED = "locked"

AGENT_NOTE = (
    "served by an Agent: it accepts the new token from its next storage poll after the redeploy "
    "(POLL_INTERVAL, 5 s by default) and the old one until then, so apps of that Agent that already "
    "hold the new token may see 401 for up to one poll after the window"
)


@dataclass
class StackRun:
    """The token stack's or one consumer's part in the rollout."""

    label: str
    outcome: str
    seconds: Optional[float] = None
    error: Optional[str] = None
    uses: Optional[list[str]] = None
    status_before: Optional[str] = None


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
class Report:
    token_stack: StackRun
    preview: bool = False
    rotated: list[RotatedToken] = field(default_factory=list)
    would_rotate: list[str] = field(default_factory=list)
    consumers: list[StackRun] = field(default_factory=list)
    next_command: Optional[str] = None

    @property
    def failed(self) -> bool:
        return self.token_stack.outcome in (FAILED, LOCKED) or any(c.outcome == FAILED for c in self.consumers)

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0

    def to_json(self) -> dict:
        camel = {"old_fingerprint": "oldFingerprint", "new_fingerprint": "newFingerprint", "rotated_at": "rotatedAt",
                 "window_seconds": "windowSeconds", "window_open": "windowOpen", "status_before": "statusBefore",
                 "token_stack": "tokenStack", "would_rotate": "wouldRotate", "next_command": "nextCommand"}

        def rename(value):
            if isinstance(value, dict):
                return {camel.get(k, k): rename(v) for k, v in value.items()}
            if isinstance(value, list):
                return [rename(v) for v in value]
            return value

        return {**rename(asdict(self)), "exitCode": self.exit_code}

    def write_json(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n")

    def lines(self) -> list[str]:
        out = [f"token stack {self.token_stack.label}: {_outcome(self.token_stack)}"]
        if self.preview:
            out.append("would rotate: " + (", ".join(self.would_rotate) or "nothing"))
        for token in self.rotated:
            window = ("open (a consumer using it failed)" if token.window_open
                      else f"{token.window_seconds:.1f} s" if token.window_seconds is not None else "n/a")
            out.append(f"rotated {token.entry}: {token.old_fingerprint or '(new)'} -> {token.new_fingerprint} "
                       f"at {token.rotated_at}; window {window}; consumers: {', '.join(token.consumers) or 'none'}")
            if token.note:
                out.append(f"  note: {token.note}")
        for consumer in self.consumers:
            out.append(f"consumer {consumer.label}: {_outcome(consumer)}")
        if self.next_command:
            out.append(f"to finish: {self.next_command}")
        return out


def _outcome(run: StackRun) -> str:
    text = run.outcome
    if run.seconds is not None:
        text += f" in {run.seconds:.1f} s"
    if run.status_before and run.outcome in (NOT_AFFECTED, WOULD_UPDATE):
        text += f" ({run.status_before})"
    if run.error:
        text += f": {run.error}"
    return text

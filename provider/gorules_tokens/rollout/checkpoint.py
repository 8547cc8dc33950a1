"""Watching the token stack's ``up`` as it runs: a progress line per rotated token (at most
about one a second), and the moment the stack outputs holding the new tokens are written,
which is when the consumers started early may read them.

The engine emits the root stack's outputs event just before it writes them to the checkpoint
and moves on only once they are written, so the first event after it is the release point;
the deletes of replaced resources come later still. Nothing is released once a step has failed:
the outputs of a failed entry are unknown until the rollout's repair ``up``.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Optional

from .events import MINTING_OPS, is_token

STACK_TYPE = "pulumi:pulumi:Stack"
PROGRESS_EVERY_SECONDS = 1.0


class CheckpointWatch:
    def __init__(self, expected: int, say: Callable[[str], None], release: Optional[Callable[[], None]],
                 label: str) -> None:
        self.expected = expected
        self._say = say
        self._release = release
        self._label = label
        self.minted = 0
        self.failed = False
        self.outputs_seen = False
        self.released = False
        self._last_said = 0.0
        self._lock = threading.Lock()

    def __call__(self, event: dict[str, Any]) -> None:
        with self._lock:
            if self.outputs_seen and not self.failed and not self.released and self._release is not None:
                self.released = True
                self._release()
            done = event.get("resOutputsEvent")
            if event.get("resOpFailedEvent"):
                self.failed = True
            if done:
                metadata = done.get("metadata") or {}
                if metadata.get("type") == STACK_TYPE:
                    self.outputs_seen = True
                elif metadata.get("op") in MINTING_OPS and is_token(metadata.get("urn")):
                    self.minted += 1
                    self._progress()

    def _progress(self, final: bool = False) -> None:
        now = time.monotonic()
        if final or now - self._last_said >= PROGRESS_EVERY_SECONDS or self.minted == self.expected:
            self._last_said = now
            self._say(f"token stack {self._label}: {self.minted}/{self.expected} rotated")

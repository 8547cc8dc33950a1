"""The stacks a rollout drives, as the orchestration sees them: a small interface, so a fake
can walk every failure path without the engine (``pulumi_cli`` is the real one).

Every operation that changes something returns what its engine events said (``Steps``); a
failed one raises ``EngineError`` carrying the same, so a partial ``up`` still tells what it
minted and which resources failed.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Optional, Protocol, Sequence

from .events import Steps


class EngineError(RuntimeError):
    """A pulumi command failed; ``str()`` is its whole output (shorten with ``engine_message``)."""

    def __init__(self, output: str, code: int = 1, steps: Optional[Steps] = None, interrupted: bool = False,
                 killed: bool = False) -> None:
        super().__init__(output)
        self.code = code
        self.steps = steps or Steps()
        self.interrupted = interrupted  # ended by a cancel the rollout asked for
        self.killed = killed  # did not stop within the grace after it: its lock may remain


class StackLockedError(RuntimeError):
    """Another run holds the stack's lock; nothing was changed by this one."""


class StackMissingError(RuntimeError):
    """The backend has no such stack (a consumer not created yet, or a typo in its name)."""


class Stack(Protocol):
    name: str
    folder: Path  # where its commands run: its project, or the token project for an external one

    def outputs(self, show_secrets: bool = False) -> dict[str, Any]: ...

    def last_update(self) -> Optional[datetime]: ...

    def up(self, replace: Sequence[str] = (), exclude: Sequence[str] = (), continue_on_error: bool = False,
           log: Optional[Path] = None, timeout: Optional[float] = None, env: Optional[dict[str, str]] = None,
           on_event: Optional[Callable[[dict[str, Any]], None]] = None) -> Steps: ...


class TokenStack(Stack, Protocol):
    def repair(self, exclude: Sequence[str], leave_out: Sequence[str] = ()) -> Steps:
        """An ``up`` without the resources that failed (their last good state stands) and with
        ``leave_out`` (entries that have no state at all) left out of the exported maps."""
        ...

    def token_urns(self) -> dict[str, str]: ...

    def refresh(self, exclude: Sequence[str] = ()) -> Steps: ...

    def preview(self, refresh: bool = False, replace: Sequence[str] = (), exclude: Sequence[str] = ()) -> Steps: ...

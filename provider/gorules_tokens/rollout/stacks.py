"""The stacks a rollout drives, as the orchestration sees them: a small interface, so a fake
can walk every failure path without the engine (``pulumi_cli`` is the real one).

Every operation that changes something returns what its engine events said (``Steps``); a
failed one raises ``EngineError`` carrying the same, so a partial ``up`` still tells what it
minted and which resources failed.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Optional, Protocol, Sequence

from .events import Steps

# "  pulumi-python:dynamic/consumer:AppConfigFile (app-config):" in the Diagnostics section.
_RESOURCE_HEADER = re.compile(r"^  \S+:\S* \([^)]*\):$")
# The last line of a Python traceback: "NotADirectoryError: [Errno 20] Not a directory: ...".
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)(: .*)?$")


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
    def repair(self, exclude: Sequence[str], leave_out: Sequence[str] = (),
               env: Optional[dict[str, str]] = None) -> Steps:
        """An ``up`` without the resources that failed (their last good state stands) and with
        ``leave_out`` (entries that have no state at all) left out of the exported maps."""
        ...

    def token_urns(self) -> dict[str, str]: ...

    def refresh(self, exclude: Sequence[str] = ()) -> Steps: ...

    def preview(self, refresh: bool = False, replace: Sequence[str] = (), exclude: Sequence[str] = ()) -> Steps: ...


def engine_message(exc: BaseException, limit: int = 4) -> str:
    """The engine's own diagnosis of a failed command, one line: for each resource in its
    "Diagnostics:" section the error (the exception line of a Python traceback rather than
    the traceback; an error ending in ":" with the lines indented under it, as a program's
    config error lists its problems), without the rest of the command's output."""
    text = str(exc)
    found: list[str] = []
    resource = ""
    lines = text.splitlines()
    for index, line in enumerate(lines):
        stripped = line.strip()
        if _RESOURCE_HEADER.match(line):
            resource = stripped.rstrip(":")
        elif _EXCEPTION_LINE.match(stripped) or (stripped.startswith("error:") and "Traceback" not in stripped):
            message = stripped.removeprefix("error:").strip()
            if message.endswith(":"):
                message += " " + "; ".join(_indented_under(lines, index))
            if message != "update failed" and message not in found and f"{resource}: {message}" not in found:
                found.append(f"{resource}: {message}" if resource else message)
    if found:
        return " | ".join(found[:limit])
    kept = [line.strip() for line in lines if line.strip()]
    return kept[-1] if kept else type(exc).__name__


def _indented_under(lines: list[str], index: int) -> list[str]:
    depth = len(lines[index]) - len(lines[index].lstrip())
    found = []
    for line in lines[index + 1:]:
        if not line.strip() or len(line) - len(line.lstrip()) <= depth:
            break
        found.append(line.strip())
    return found

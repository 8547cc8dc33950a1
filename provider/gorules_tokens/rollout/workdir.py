"""The rollout's own files beside the token project: ``.gorules-tokens/`` (ignored by git),
holding one lock per token stack and each run's consumer logs.

The lock makes a second rollout of the same token stack on this machine fail at once rather
than rotate what the first one is still handing on; the backend's own lock covers only the
token stack's ``up``, and a rollout on another machine is caught by the final re-read instead.
"""

from __future__ import annotations

import fcntl
import os
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Optional

FOLDER = ".gorules-tokens"


class RolloutBusyError(RuntimeError):
    """Another rollout of this token stack is running on this machine."""


def _folder(project: Path) -> Path:
    folder = project / FOLDER
    folder.mkdir(exist_ok=True)
    ignore = folder / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# gorules-tokens rollout: locks and consumer logs, never committed\n*\n")
    return folder


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "stack"


class RolloutLock:
    """Held for a whole rollout (not a preview); released when the process ends, however."""

    def __init__(self, project: Path, stack: str) -> None:
        self.path = _folder(project) / f"{_safe(stack)}.lock"
        self._file: Optional[IO[str]] = None

    def __enter__(self) -> "RolloutLock":
        handle = open(self.path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise RolloutBusyError(f"another rollout of this token stack is running ({holder}; lock {self.path})") \
                from None
        handle.truncate(0)
        handle.write(f"pid {os.getpid()} since {datetime.now(timezone.utc):%Y-%m-%dT%H:%M:%SZ}\n")
        handle.flush()
        self._file = handle
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._file is not None:
            self._file.truncate(0)
            self._file.close()
            self._file = None


def state_file(project: Path, stack: str, name: str, create: bool = True) -> Path:
    """A file the rollout keeps about one token stack (no secret in it)."""
    folder = _folder(project) if create else project / FOLDER
    return folder / f"{_safe(stack)}.{name}"


def logs_folder(project: Path, stack: str) -> Path:
    """A new folder for this run's consumer logs (owner-only, as the logs are)."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    folder = _folder(project) / "logs" / _safe(stack) / stamp
    folder.mkdir(parents=True, mode=0o700)
    return folder

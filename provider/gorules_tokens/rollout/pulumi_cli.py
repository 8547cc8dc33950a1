"""The rollout's only door to the engine: the ``pulumi`` CLI, one process per operation.

Every process is started here, in a session of its own (a Ctrl-C in the terminal reaches only
``gorules-tokens``, which forwards exactly one SIGINT: the engine's graceful cancel; a second
one would kill it mid-step), is known while it runs (so an interrupt reaches all of them), and
can be given a deadline. Nothing here selects a stack (``--stack`` on every command), reads a
secret config value, or exports state with ``--show-secrets``; only the token stack's own
outputs are read decrypted, by the rollout, to scrub its tokens.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from ..errors import scrub
from ..stack_outputs import LEAVE_OUT_ENV
from .events import Follower, Steps, is_token, parse_events, resource_name
from .stacks import EngineError, StackLockedError, StackMissingError, engine_message

# bootstrap.sh exports the folder of the pinned CLI here; anything else uses `pulumi` on PATH.
ENGINE_BIN_ENV = "GORULES_PULUMI_BIN"
_MISSING = re.compile(r"no stack named .* found")
_LOCKED = re.compile(r"currently locked|Another update is currently in progress")
# After a SIGINT the engine finishes the steps in flight; past this it is killed.
CANCEL_GRACE_SECONDS = 60.0


def is_locked(exc: BaseException) -> bool:
    return bool(_LOCKED.search(str(exc)))


@dataclass
class Finished:
    """One command's end: its output, what its events said, whether it had to be killed."""

    output: str
    steps: Steps
    interrupted: bool = False
    killed: bool = False


class Engine:
    """Runs ``pulumi`` commands and keeps hold of the ones running."""

    def __init__(self, binary: Optional[Path] = None, grace: float = CANCEL_GRACE_SECONDS) -> None:
        self.grace = grace
        if binary is None:
            bin_dir = os.environ.get(ENGINE_BIN_ENV)
            binary = Path(bin_dir) / "pulumi" if bin_dir and (Path(bin_dir) / "pulumi").exists() else Path("pulumi")
        self.binary = binary
        self._running: dict[subprocess.Popen, bool] = {}  # process -> is an operation (not a read)
        self._lock = threading.Lock()
        self.interrupted: Optional[int] = None

    def interrupt(self, signum: int = signal.SIGINT) -> None:
        """Asks every running command to cancel gracefully, and refuses to start new ones."""
        with self._lock:
            self.interrupted = signum
            running = [process for process, operation in self._running.items() if operation]
        # Reads go on: they change nothing, take a second, and the report needs what they say.
        for process in running:
            _signal(process, signal.SIGINT)

    def run(self, args: Sequence[str], cwd: Path, *, log: Optional[Path] = None, timeout: Optional[float] = None,
            events: bool = False, on_line: Optional[Callable[[str], None]] = None,
            env: Optional[dict[str, str]] = None,
            on_event: Optional[Callable[[dict[str, Any]], None]] = None) -> Finished:
        """Runs one command to its end; raises EngineError when it fails (or is cancelled).

        ``log``: its whole output also goes there, scrubbed of every secret the rollout knows,
        readable by the owner only (a consumer may print secrets of its own)."""
        with tempfile.TemporaryDirectory(prefix="gorules-tokens-") as scratch:
            event_log = Path(scratch) / "events.jsonl"
            argv = [str(self.binary), *args, "--non-interactive"]
            env = {**os.environ, "PULUMI_SKIP_UPDATE_CHECK": "true", **(env or {})}
            if events:
                # The CLI takes --event-log only with its debug commands switched on.
                argv += ["--event-log", str(event_log)]
                env["PULUMI_DEBUG_COMMANDS"] = "true"
            if self.binary.is_absolute():
                env["PATH"] = os.pathsep.join([str(self.binary.parent), env.get("PATH", "")])
            follower = Follower(event_log, on_event) if events and on_event else None
            try:
                output, code, interrupted, killed = self._spawn(argv, cwd, env, log, timeout, on_line, events)
            finally:
                if follower:
                    follower.stop()
            steps = parse_events(event_log.read_text().splitlines()) if event_log.exists() else Steps()
        if code != 0:
            if is_locked(output):
                raise StackLockedError(engine_message(output))
            raise EngineError(output, code, steps, interrupted, killed)
        return Finished(output, steps, interrupted, killed)

    def _spawn(self, argv: list[str], cwd: Path, env: dict[str, str], log: Optional[Path],
               timeout: Optional[float], on_line: Optional[Callable[[str], None]],
               operation: bool) -> tuple[str, int, bool, bool]:
        with self._lock:
            # After an interrupt only reads may start (the report needs to know what rotated).
            if self.interrupted is not None and operation:
                raise EngineError("not started: the rollout was interrupted", interrupted=True)
            process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, text=True, start_new_session=True)
            self._running[process] = operation
        sink = _open_private(log) if log else None
        lines: list[str] = []
        deadline = time.monotonic() + timeout if timeout else None
        watchdog = threading.Thread(target=self._watch, args=(process, deadline, operation), daemon=True)
        watchdog.start()
        try:
            assert process.stdout is not None
            for line in process.stdout:
                lines.append(line)
                if sink:
                    sink.write(scrub(line))
                    sink.flush()
                if on_line:
                    on_line(line.rstrip("\n"))
            code = process.wait()
        finally:
            if sink:
                sink.close()
            with self._lock:
                self._running.pop(process, None)
        killed = getattr(process, "killed_by_us", False)
        interrupted = getattr(process, "interrupted_by_us", False) or self.interrupted is not None
        return "".join(lines), code, interrupted, killed

    def _watch(self, process: subprocess.Popen, deadline: Optional[float], operation: bool) -> None:
        """Past its deadline a command gets a graceful cancel, and past the grace a kill; an
        interrupted operation gets the kill after the grace too."""
        asked_at: Optional[float] = None
        while process.poll() is None:
            now = time.monotonic()
            interrupted = operation and self.interrupted is not None
            if asked_at is None and (interrupted or (deadline is not None and now >= deadline)):
                if self.interrupted is None:
                    _signal(process, signal.SIGINT)
                process.interrupted_by_us = True  # type: ignore[attr-defined]
                asked_at = now
            elif asked_at is not None and now - asked_at >= self.grace:
                process.killed_by_us = True  # type: ignore[attr-defined]
                _signal(process, signal.SIGKILL)
                return
            time.sleep(0.1)


def _signal(process: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(process.pid, signum) if signum == signal.SIGKILL else process.send_signal(signum)
    except ProcessLookupError:
        pass


def _open_private(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w")


@dataclass
class StackHandle:
    """One stack, addressed from one project folder (its own, or the token project's for a
    stack of another repository, by its fully qualified name)."""

    folder: Path
    name: str
    engine: Engine

    def _run(self, *args: str, **kwargs: Any) -> Finished:
        return self.engine.run([*args, "--stack", self.name], self.folder, **kwargs)

    def _read(self, *args: str) -> str:
        try:
            return self._run(*args).output
        except EngineError as exc:
            if _MISSING.search(str(exc)):
                raise StackMissingError(f"no stack {self.name!r} in {self.folder}") from None
            raise

    def outputs(self, show_secrets: bool = False) -> dict[str, Any]:
        """Stack outputs; every secret reads ``[secret]`` unless ``show_secrets``."""
        reveal = ["--show-secrets"] if show_secrets else []
        return json.loads(self._read("stack", "output", "--json", *reveal) or "{}")

    def config_all(self) -> dict[str, Any]:
        """The whole stack config, secrets decrypted: for the PATs only (the rollout's expiry
        check), whose values the caller registers with the scrubber before anything prints."""
        return json.loads(self._read("config", "--json", "--show-secrets") or "{}")

    def config_object(self, key: str) -> Any:
        """A non-secret config value, parsed (None when the key is not set)."""
        try:
            raw = json.loads(self._read("config", "get", key, "--json"))
        except EngineError as exc:
            if "not found" in str(exc) or "could not find" in str(exc).lower():
                return None
            raise
        if raw.get("secret"):
            raise ValueError(f"{key} must not be a secret")
        if "objectValue" in raw:
            return raw["objectValue"]
        try:
            return json.loads(raw["value"])
        except (TypeError, ValueError):
            return raw["value"]

    def last_update(self) -> Optional[datetime]:
        """When its last successful update ended (None: it never had one)."""
        history = json.loads(self._read("stack", "history", "--json", "--page-size", "20") or "[]")
        for entry in history:
            if entry.get("kind") == "update" and entry.get("result") == "succeeded" and entry.get("endTime"):
                return datetime.fromisoformat(entry["endTime"].replace("Z", "+00:00"))
        return None

    def token_urns(self) -> dict[str, str]:
        """Resource name -> URN of every live token in state (exported without decrypting)."""
        deployment = json.loads(self._read("stack", "export")).get("deployment") or {}
        return {resource_name(r["urn"]): r["urn"] for r in deployment.get("resources") or []
                if is_token(r.get("urn")) and not r.get("delete")}

    def refresh(self, exclude: Sequence[str] = ()) -> Steps:
        return self._operation(["refresh", "--yes", "--skip-preview", *_each("--exclude", exclude)])

    def preview(self, refresh: bool = False, replace: Sequence[str] = (), exclude: Sequence[str] = ()) -> Steps:
        return self._operation(["preview", *(["--refresh"] if refresh else []), *_each("--replace", replace),
                                *_each("--exclude", exclude)])

    def up(self, replace: Sequence[str] = (), exclude: Sequence[str] = (), continue_on_error: bool = False,
           log: Optional[Path] = None, timeout: Optional[float] = None, env: Optional[dict[str, str]] = None,
           on_event: Optional[Callable[[dict[str, Any]], None]] = None) -> Steps:
        """``pulumi up --yes --skip-preview`` and nothing else: no stack select, no output
        or history read after it (each would sit between a regenerate and the consumers).
        ``on_event``: each engine event as it happens."""
        args = ["up", "--yes", "--skip-preview", *_each("--replace", replace), *_each("--exclude", exclude)]
        if continue_on_error:
            args.append("--continue-on-error")
        return self._operation(args, log=log, timeout=timeout, env=env, on_event=on_event)

    def repair(self, exclude: Sequence[str], leave_out: Sequence[str] = (),
               env: Optional[dict[str, str]] = None) -> Steps:
        return self._operation(["up", "--yes", "--skip-preview", *_each("--exclude", exclude)],
                               env={**(env or {}), LEAVE_OUT_ENV: ",".join(leave_out)})

    def _operation(self, args: list[str], **kwargs: Any) -> Steps:
        """Runs an engine operation with its event log; a failed one raises EngineError
        carrying its steps (``exc.steps``)."""
        return self._run(*args, events=True, **kwargs).steps


def _each(flag: str, values: Sequence[str]) -> list[str]:
    return [part for value in values for part in (flag, value)]


def selected_stack(folder: Path, engine: Engine) -> Optional[str]:
    """The stack selected in ``folder`` (``pulumi stack select``), if any; selects nothing."""
    try:
        listed = json.loads(engine.run(["stack", "ls", "--json"], folder).output or "[]")
    except EngineError:
        return None
    return next((s["name"] for s in listed if s.get("current")), None)

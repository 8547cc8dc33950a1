"""The hand-off between a rollout and the consumers it starts early.

A rollout starts the ``pulumi up`` of each consumer that will follow a rotation *before* the
regenerate, so the consumer's start-up (CLI, secrets, language host, imports) happens while its
app still holds a live token. ``TokenStackReference`` then waits, before it reads the token
stack, until the rollout says the new outputs are written; only the read and the hand-over to
the app are left for after the regenerate.

The rollout names a Unix socket in ``HANDOFF_ENV`` for the consumers it starts; each consumer
connects, says who it is (``HANDOFF_ID_ENV``) and reads one line: ``go`` (read what is live
now) or ``stop <reason>`` (end without changing anything: nothing it uses rotated after all). Waiting is a blocked ``recv``: memory, no CPU. Without the variable (a
``pulumi up`` by hand), and in any dry run, nothing waits.
"""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path
from typing import Callable, Mapping, Optional

HANDOFF_ENV = "GORULES_TOKENS_HANDOFF"
HANDOFF_TIMEOUT_ENV = "GORULES_TOKENS_HANDOFF_TIMEOUT"
HANDOFF_ID_ENV = "GORULES_TOKENS_HANDOFF_ID"  # which consumer this is, as the rollout names it
DEFAULT_TIMEOUT = 600.0
GO = "go"
STOP = "stop"
# Starts the error of a consumer the rollout stopped: how the rollout tells it changed nothing.
STOPPED = "stopped by the rollout before reading the token stack"


class HandoffStopped(RuntimeError):
    """The rollout stopped this consumer before it read anything; nothing was changed."""


def will_wait(dry_run: bool, environ: Mapping[str, str] = os.environ) -> bool:
    """Whether ``wait_for_release`` blocks: only in an update a rollout started early."""
    return bool(environ.get(HANDOFF_ENV)) and not dry_run


def wait_for_release(dry_run: bool, environ: Mapping[str, str] = os.environ) -> None:
    """Blocks until the rollout that started this program releases it (a no-op otherwise)."""
    if not will_wait(dry_run, environ):
        return
    path = environ[HANDOFF_ENV]
    timeout = float(environ.get(HANDOFF_TIMEOUT_ENV) or DEFAULT_TIMEOUT)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(timeout)
            conn.connect(path)
            conn.sendall(environ.get(HANDOFF_ID_ENV, "").encode() + b"\n")
            answer = conn.makefile("r").readline().strip()
    except socket.timeout:
        raise HandoffStopped(f"waited {timeout:g} s for the rollout's hand-off ({HANDOFF_ENV}={path}) "
                             "and was never released; nothing was changed") from None
    except OSError as exc:
        raise HandoffStopped(f"the rollout that started this update is gone ({HANDOFF_ENV}={path}: "
                             f"{exc.strerror or exc}); nothing was changed, run it again") from None
    if answer != GO:
        reason = answer.removeprefix(STOP).strip() or "no reason given"
        raise HandoffStopped(f"{STOPPED}: {reason}; nothing was changed")


class HandoffServer:
    """The rollout's side: holds every consumer that connects until it answers them all."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / "handoff.sock"
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._socket.bind(str(self.path))
        os.chmod(self.path, 0o600)
        self._socket.listen(128)
        self._held: list[tuple[str, socket.socket]] = []
        self._arrived: set[str] = set()  # every id that connected, held or answered at once
        self._answer: Optional[Callable[[str], str]] = None
        self._lock = threading.Condition()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._socket.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._hold, args=(conn,), daemon=True).start()

    def _hold(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(30)
            who = conn.makefile("r").readline().strip()
        except OSError:
            conn.close()
            return
        with self._lock:
            self._arrived.add(who)
            self._lock.notify_all()
            if self._answer is None:
                self._held.append((who, conn))
                return
            answer = self._answer
        self._send(conn, answer(who))

    def arrived(self, timeout: float) -> frozenset[str]:
        """The ids that reached the hand-off, after waiting up to ``timeout`` for one more."""
        with self._lock:
            known = len(self._arrived)
            self._lock.wait_for(lambda: len(self._arrived) > known, timeout)
            return frozenset(self._arrived)

    @staticmethod
    def _send(conn: socket.socket, answer: str) -> None:
        try:
            conn.sendall(answer.encode() + b"\n")
        except OSError:
            pass  # that consumer is gone already
        finally:
            conn.close()

    def answer(self, decide: Callable[[str], str]) -> None:
        """Answers every consumer, waiting or still to come, with ``decide(its id)``; once."""
        with self._lock:
            if self._answer is not None:
                return
            self._answer = decide
            held, self._held = self._held, []
        for who, conn in held:
            self._send(conn, decide(who))

    def release(self, stop: Optional[Mapping[str, str]] = None) -> None:
        """Every consumer reads what is live now, but those in ``stop`` (id -> reason)."""
        stop = stop or {}
        self.answer(lambda who: f"{STOP} {stop[who]}" if who in stop else GO)

    def stop(self, reason: str) -> None:
        """Every consumer ends without changing anything."""
        self.answer(lambda _who: f"{STOP} {reason}")

    def env(self, who: str, timeout: float) -> dict[str, str]:
        return {HANDOFF_ENV: str(self.path), HANDOFF_TIMEOUT_ENV: f"{timeout:g}", HANDOFF_ID_ENV: who}

    def close(self) -> None:
        self.stop("the rollout ended")
        self._socket.close()
        self.path.unlink(missing_ok=True)

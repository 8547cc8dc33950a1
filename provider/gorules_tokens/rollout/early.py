"""Consumers started before the regenerate (``--prestart``): each runs its ``pulumi up`` at
once and waits at the hand-off (``gorules_tokens.handoff``) until the token stack's new
outputs are written, so that only the read and the hand-over to its app are left for after
the old token died. Released at the checkpoint, or after the repair ``up`` when an entry
failed; stopped, without changes, when the token stack's update failed or the rollout was
interrupted."""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping, Optional, Sequence

from ..handoff import HandoffServer
from ..stack_outputs import TokenView
from .report import NOT_RUN, STALE_READ, StackRun

if TYPE_CHECKING:
    from .run import ConsumerTarget

Update = Callable[..., tuple[StackRun, Optional[datetime]]]


class EarlyStart:
    def __init__(self, update: Update, targets: Sequence[tuple["ConsumerTarget", str]], wait_timeout: float,
                 reread: Callable[[], Mapping[str, TokenView]]) -> None:
        self.targets = list(targets)
        self._reread = reread
        self._tokens: Optional[Callable[[], Mapping[str, TokenView]]] = None
        self._known = threading.Event()
        self._futures: list[Future] = []
        self._folder: Optional[Path] = None
        self._server: Optional[HandoffServer] = None
        if not self.targets:
            return
        self._folder = Path(tempfile.mkdtemp(prefix="gorules-tokens-handoff-"))
        self._server = HandoffServer(self._folder)
        self._pool = ThreadPoolExecutor(max_workers=len(self.targets), thread_name_prefix="early")
        self._futures = [self._pool.submit(update, target, status, self._live,
                                           self._server.env(target.consumer.label, wait_timeout))
                         for target, status in self.targets]

    def wait_ready(self, timeout: float, check_interrupt: Callable[[], None], say: Callable[[str], None]) -> None:
        """Holds the regenerate until every consumer started early waits at the hand-off (or has
        ended without reaching it), up to ``timeout``. Their start-ups then share the cores
        while the old token is still live; released into a start-up still running, a consumer's
        app waits for the rest of it (a slow program, a loaded machine, more consumers than
        the token stack's preview gives time to start; in the quiet bench every consumer was
        waiting already, so there it changes nothing).
        A consumer slower than ``timeout`` only costs its app that outage again, so the
        rollout goes on and says so."""
        if self._server is None:
            return
        began = time.monotonic()
        labels = {target.consumer.label for target, _status in self.targets}
        while True:
            check_interrupt()
            arrived = self._server.arrived(timeout=0.25) & labels
            ended = sum(1 for (target, _status), f in zip(self.targets, self._futures)
                        if f.done() and target.consumer.label not in arrived)
            waited = time.monotonic() - began
            if len(arrived) + ended >= len(self.targets) or waited >= timeout:
                break
        missing = len(self.targets) - len(arrived) - ended
        say(f"consumers: {len(arrived)}/{len(self.targets)} waiting at the hand-off after {waited:.1f} s"
            + (f"; {missing} still starting, going on without waiting for them" if missing else ""))

    def _live(self) -> Mapping[str, TokenView]:
        """The tokens a finished consumer is judged by: known once the token stack was read."""
        self._known.wait()
        assert self._tokens is not None
        return self._tokens()

    def tokens_known(self, tokens: Callable[[], Mapping[str, TokenView]]) -> None:
        self._tokens = tokens
        self._known.set()

    def release(self, stop: Optional[Mapping[str, str]] = None) -> None:
        """Lets them read the new outputs; those in ``stop`` (label -> reason) end unchanged."""
        if self._server:
            self._server.release(stop)

    def stop(self, reason: str) -> None:
        if self._server:
            self._server.stop(reason)

    @staticmethod
    def read_too_soon(run: StackRun) -> bool:
        return bool(run.error and run.error.startswith(STALE_READ))

    def collect(self, runs: dict[str, StackRun], finished: dict[str, Optional[datetime]]) -> None:
        """Waits for every consumer started early and records how each one ended (one stopped
        at the hand-off is ``not-run``: it changed nothing, and the report says why)."""
        for future in self._futures:
            run, end = future.result()
            runs[run.label] = run
            if run.outcome != NOT_RUN:
                finished[run.label] = end
        self._close()

    def runs_so_far(self) -> list[StackRun]:
        """After a failure or an interrupt: how each one ended (a stopped one changed nothing)."""
        if not self._known.is_set():
            self.tokens_known(self._reread)
        runs: dict[str, StackRun] = {}
        self.collect(runs, {})
        return list(runs.values())

    def _close(self) -> None:
        if self._server:
            self._server.close()
            self._pool.shutdown(wait=True)
            shutil.rmtree(self._folder, ignore_errors=True)
            self._server = None

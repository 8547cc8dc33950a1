"""The app as it runs in production: one evaluation every 100 ms, its config file re-read each
time, so a new token reaches it the moment the consumer stack rewrites the file.

``AppLoop`` records every answer's status and time, which is what tells how long the app
itself was down during a rotation (first failing call -> first succeeding one after it),
as opposed to how long the rollout took. A call is one evaluation, with the current token or,
after a 401, the previous one (``app.evaluate``). Used by the demo and by ``bench/``; run it alone
with ``python app_loop.py CONFIG_FILE SECONDS``.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import httpx

from app import evaluate

INTERVAL_S = 0.1


@dataclass(frozen=True)
class Outage:
    """From the first failing call to the first succeeding one after it (None: still down)."""

    started: float
    ended: Optional[float]
    failed_calls: int

    @property
    def seconds(self) -> Optional[float]:
        return None if self.ended is None else self.ended - self.started


@dataclass
class AppLoop:
    config_path: Path
    interval: float = INTERVAL_S
    calls: list[tuple[float, int]] = field(default_factory=list)  # (time.time(), HTTP status or 0)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: Optional[threading.Thread] = None
    _client: Optional[httpx.Client] = None  # the app's own, for its whole life

    def _call(self) -> int:
        assert self._client is not None
        try:
            return evaluate(self.config_path, {"weight": 3, "country": "US"}, self._client).status_code
        except (httpx.HTTPError, OSError, ValueError, KeyError):
            return 0  # no answer, or a config file being replaced: a failed call all the same

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.time()
            self.calls.append((started, self._call()))
            self._stop.wait(max(0.0, self.interval - (time.time() - started)))

    def __enter__(self) -> AppLoop:
        self._client = httpx.Client(timeout=10)
        self._thread = threading.Thread(target=self._run, name="app-loop", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=15)
        if self._client:
            self._client.close()

    def outages(self) -> list[Outage]:
        found: list[Outage] = []
        down_since: Optional[float] = None
        failed = 0
        for moment, status in list(self.calls):
            if status != 200:
                down_since, failed = (moment if down_since is None else down_since), failed + 1
            elif down_since is not None:
                found.append(Outage(down_since, moment, failed))
                down_since, failed = None, 0
        if down_since is not None:
            found.append(Outage(down_since, None, failed))
        return found


def main(argv: list[str]) -> int:
    with AppLoop(Path(argv[1])) as loop:
        time.sleep(float(argv[2]) if len(argv) > 2 else 10)
    for outage in loop.outages():
        print(f"app down for {outage.seconds:.2f} s ({outage.failed_calls} failed calls)"
              if outage.seconds is not None else f"app still down ({outage.failed_calls} failed calls)")
    print(f"app: {len(loop.calls)} calls")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

"""The suite's own rules (tests/conftest.py) that are not about any one layer."""

from __future__ import annotations

import signal
import subprocess

import conftest


def _ignored_by_a_child() -> int:
    status = subprocess.run(["cat", "/proc/self/status"], capture_output=True, text=True, check=True).stdout
    return int(next(line for line in status.splitlines() if line.startswith("SigIgn:")).split()[1], 16)


def test_a_suite_started_with_sigint_ignored_starts_children_without_it() -> None:
    before = signal.getsignal(signal.SIGINT)
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        assert _ignored_by_a_child() & (1 << (signal.SIGINT - 1)), "the probe itself must see the ignored signal"
        conftest.pytest_configure(None)  # type: ignore[arg-type]
        assert not _ignored_by_a_child() & (1 << (signal.SIGINT - 1))
    finally:
        signal.signal(signal.SIGINT, before)

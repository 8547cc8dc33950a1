"""The hand-off between a rollout and the consumers it starts early, over its real Unix socket."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from gorules_tokens.handoff import HANDOFF_ENV, HandoffServer, HandoffStopped, wait_for_release


def _waiting(server: HandoffServer, who: str, results: dict) -> threading.Thread:
    def wait() -> None:
        try:
            wait_for_release(False, server.env(who, timeout=30))
            results[who] = "go"
        except HandoffStopped as exc:
            results[who] = str(exc)

    thread = threading.Thread(target=wait)
    thread.start()
    return thread


def test_consumers_wait_until_released_and_the_stopped_ones_end_unchanged(tmp_path: Path) -> None:
    server = HandoffServer(tmp_path)
    results: dict[str, str] = {}
    threads = [_waiting(server, who, results) for who in ("web", "eu-app")]
    time.sleep(0.3)
    assert results == {}  # still waiting: blocked in recv, no CPU spent
    server.release({"eu-app": "nothing it uses rotated"})
    for thread in threads:
        thread.join(5)
    assert results["web"] == "go"
    assert "stopped by the rollout" in results["eu-app"] and "nothing it uses rotated" in results["eu-app"]
    late: dict[str, str] = {}
    _waiting(server, "late", late).join(5)  # one that connects after the answer gets it at once
    assert late == {"late": "go"}
    server.close()
    assert not server.path.exists()


def test_a_stop_ends_every_consumer_and_a_gone_rollout_is_a_clear_error(tmp_path: Path) -> None:
    server = HandoffServer(tmp_path)
    results: dict[str, str] = {}
    thread = _waiting(server, "web", results)
    time.sleep(0.1)
    server.stop("the token stack's update failed")
    thread.join(5)
    assert "the token stack's update failed" in results["web"] and "nothing was changed" in results["web"]
    server.close()
    with pytest.raises(HandoffStopped, match="is gone"):
        wait_for_release(False, {HANDOFF_ENV: str(tmp_path / "handoff.sock")})


def test_nothing_waits_by_hand_or_in_a_dry_run(tmp_path: Path) -> None:
    started = time.monotonic()
    wait_for_release(False, {})  # `pulumi up` by hand: no variable
    wait_for_release(True, {HANDOFF_ENV: str(tmp_path / "none.sock")})  # a preview
    assert time.monotonic() - started < 0.5


def test_a_wait_is_bounded(tmp_path: Path) -> None:
    server = HandoffServer(tmp_path)
    with pytest.raises(HandoffStopped, match="waited 0.5 s"):
        wait_for_release(False, server.env("web", timeout=0.5))
    server.close()


def test_the_server_tells_who_reached_the_hand_off(tmp_path) -> None:
    """What the rollout waits on before the regenerate (issue 24): every id that connected,
    whether still held or answered at once."""
    server = HandoffServer(tmp_path)
    try:
        assert server.arrived(timeout=0.05) == frozenset()
        results: dict = {}
        first = _waiting(server, "web", results)
        assert server.arrived(timeout=5) == {"web"}
        server.release()
        first.join(5)
        late = _waiting(server, "late", results)
        late.join(5)
        assert server.arrived(timeout=0.05) == {"web", "late"}
        assert results == {"web": "go", "late": "go"}
    finally:
        server.close()

import sys
import threading
import time

import pytest

from gorules_tokens.cache import SingleFlightCache
from gorules_tokens.errors import BrmsError


def test_kept_for_the_process_until_invalidated(monkeypatch):
    cache = SingleFlightCache()
    loads = []
    loader = lambda: loads.append(1) or len(loads)
    assert cache.get("k", loader) == 1
    # However long the operation runs (a loaded machine), the list is not fetched again.
    later = time.monotonic() + 3600
    monkeypatch.setattr(time, "monotonic", lambda: later)
    assert cache.get("k", loader) == 1
    cache.invalidate("k")
    assert cache.get("k", loader) == 2
    assert cache.get("other", loader) == 3
    cache.clear()
    assert cache.get("k", loader) == 4


def waiting_on_the_flight(threads: list[threading.Thread], expected: int, timeout: float = 10.0) -> None:
    """Returns once ``expected`` of ``threads`` are blocked in ``Future.result`` (waiting for
    another thread's load); a bounded poll of their stacks, never a sleep that hopes so."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        frames = sys._current_frames()
        blocked = 0
        for thread in threads:
            frame = frames.get(thread.ident or -1)
            while frame is not None and not (frame.f_code.co_name == "result"
                                             and frame.f_code.co_filename.endswith("_base.py")):
                frame = frame.f_back
            blocked += frame is not None
        if blocked >= expected:
            return
        time.sleep(0.005)
    pytest.fail(f"only {blocked} of {expected} threads ever waited on the in-flight load")


def test_single_flight_under_concurrency():
    # Every thread is blocked in the one load before it ends, so one load proves they all waited.
    cache = SingleFlightCache()
    release = threading.Event()
    loads = []

    def loader():
        loads.append(1)
        release.wait(5)
        return "value"

    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get("k", loader))) for _ in range(8)]
    for t in threads:
        t.start()
    waiting_on_the_flight(threads, 7)
    release.set()
    for t in threads:
        t.join(5)
    assert results == ["value"] * 8 and len(loads) == 1


def test_errors_reach_waiters_and_are_not_cached():
    cache = SingleFlightCache()
    gate = threading.Event()
    loads = []

    def failing():
        loads.append(1)
        gate.wait(5)
        raise BrmsError("list-environments", status=503, message="down")

    errors = []

    def worker():
        try:
            cache.get("k", failing)
        except BrmsError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    waiting_on_the_flight(threads, 3)
    gate.set()
    for t in threads:
        t.join(5)
    assert len(loads) == 1  # the three others got the one load's error, not their own
    assert len(errors) == 4 and all(e.status == 503 for e in errors)
    assert len({id(e) for e in errors}) == 4  # each thread got its own exception object
    assert cache.get("k", lambda: "ok") == "ok"


def test_invalidate_during_flight_does_not_keep_stale_value():
    cache = SingleFlightCache()
    values = iter(["stale", "fresh"])

    def loader():
        value = next(values)
        if value == "stale":
            cache.invalidate("k")  # e.g. a regenerate happened meanwhile
        return value

    assert cache.get("k", loader) == "stale"
    assert cache.get("k", loader) == "fresh"


def test_non_brms_errors_propagate():
    cache = SingleFlightCache()
    with pytest.raises(KeyError):
        cache.get("k", lambda: {}["x"])

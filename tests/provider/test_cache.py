import threading
import time

import pytest

from gorules_tokens.cache import SingleFlightCache
from gorules_tokens.errors import BrmsError


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_ttl_and_invalidate():
    clock = Clock()
    cache = SingleFlightCache(ttl=5.0, clock=clock)
    loads = []
    loader = lambda: loads.append(1) or len(loads)
    assert cache.get("k", loader) == 1
    clock.t = 4.9
    assert cache.get("k", loader) == 1
    clock.t = 5.0
    assert cache.get("k", loader) == 2
    cache.invalidate("k")
    assert cache.get("k", loader) == 3
    assert cache.get("other", loader) == 4


def test_single_flight_under_concurrency():
    cache = SingleFlightCache(ttl=5.0)
    started = threading.Event()
    release = threading.Event()
    loads = []

    def loader():
        loads.append(1)
        started.set()
        release.wait(5)
        return "value"

    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get("k", loader))) for _ in range(8)]
    for t in threads:
        t.start()
    started.wait(5)
    time.sleep(0.05)
    release.set()
    for t in threads:
        t.join(5)
    assert results == ["value"] * 8 and len(loads) == 1


def test_errors_reach_waiters_and_are_not_cached():
    cache = SingleFlightCache(ttl=5.0)
    gate = threading.Event()

    def failing():
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
    time.sleep(0.05)
    gate.set()
    for t in threads:
        t.join(5)
    assert len(errors) == 4 and all(e.status == 503 for e in errors)
    assert len({id(e) for e in errors}) == 4  # each thread got its own exception object
    assert cache.get("k", lambda: "ok") == "ok"


def test_invalidate_during_flight_does_not_keep_stale_value():
    cache = SingleFlightCache(ttl=5.0)
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

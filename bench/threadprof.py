"""cProfile of every Python thread of a process, merged and written at exit.

cProfile only sees the thread that enabled it. Pulumi's Python processes do their work on
thread pools (the dynamic provider serves gRPC on 4 threads; the program's SDK sends
RegisterResource calls from an executor), so `install()` patches `threading.Thread.run` to
give each new thread its own profiler, profiles the calling thread too, and on exit merges
all of them into one pstats file. Call it before the thread pools are created.
"""

from __future__ import annotations

import atexit
import cProfile
import threading

_lock = threading.Lock()
_profiles: list[cProfile.Profile] = []


def install(out_path: str) -> None:
    original_run = threading.Thread.run

    def profiled_run(self: threading.Thread) -> None:
        profile = cProfile.Profile()
        with _lock:
            _profiles.append(profile)
        profile.enable()
        try:
            original_run(self)
        finally:
            profile.disable()

    threading.Thread.run = profiled_run  # type: ignore[method-assign]
    main = cProfile.Profile()
    _profiles.append(main)
    atexit.register(_dump, out_path)
    main.enable()


def _dump(out_path: str) -> None:
    import pstats

    stats = None
    with _lock:
        profiles = list(_profiles)
    for profile in profiles:
        try:
            profile.disable()  # only effective for the calling thread's profiler
        except Exception:  # noqa: BLE001
            pass
        try:
            if stats is None:
                stats = pstats.Stats(profile)
            else:
                stats.add(profile)
        except TypeError:  # a profiler that never recorded anything
            continue
    if stats is not None:
        stats.dump_stats(out_path)

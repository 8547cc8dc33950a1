"""Helpers for tests that call EnvironmentTokenProvider methods directly, as the engine would."""

from __future__ import annotations

import threading
from typing import Any, Sequence

from gorules_tokens.inputs import validate_inputs


def checked_props(project_id: str, environment_id: str, **extra: Any) -> dict[str, Any]:
    """What check() hands the engine, and so what create() receives: non-default inputs only."""
    props = validate_inputs({"project_id": project_id, "environment_id": environment_id, **extra}).compact()
    props["__provider"] = "serialized-provider"
    return props


def read_in_threads(provider: Any, created: Sequence[Any], *, threads: int = 4, timeout: float = 30) -> list[Any]:
    """Refresh every created resource from ``threads`` threads started together, like the engine's
    4 provider workers; returns the ReadResults."""
    results: list[Any] = []
    barrier = threading.Barrier(threads)

    def worker(chunk: Sequence[Any]) -> None:
        barrier.wait()
        for item in chunk:
            results.append(provider.read(item.id, item.outs))

    pool = [threading.Thread(target=worker, args=(created[i::threads],)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout)
    return results

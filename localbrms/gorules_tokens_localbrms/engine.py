"""Decision evaluation with the open-source GoRules engine (``zen-engine``).

Releases are immutable, so one compiled ``ZenEngine`` per release is cached and shared
across threads (the engine is thread-safe for evaluation).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import zen

from gorules_tokens_localbrms.errors import BRMSError

DocumentLoader = Callable[[], dict[str, dict[str, Any]]]
MAX_CACHED_RELEASES = 256


class DecisionEngine:
    """Evaluates a decision of a release; compiles each release once."""

    def __init__(self) -> None:
        self._engines: dict[str, zen.ZenEngine] = {}
        self._lock = threading.Lock()

    def _engine(self, release_id: str, load: DocumentLoader) -> zen.ZenEngine:
        with self._lock:
            engine = self._engines.get(release_id)
            if engine is None:
                if len(self._engines) >= MAX_CACHED_RELEASES:
                    self._engines.clear()
                engine = zen.ZenEngine({"loader": {"type": "static", "content": load()}})
                self._engines[release_id] = engine
            return engine

    def evaluate(
        self, release_id: str, load: DocumentLoader, key: str, context: dict[str, Any], trace: bool
    ) -> dict[str, Any]:
        """``{result, performance[, trace]}`` as BRMS answers; engine errors become 400."""
        engine = self._engine(release_id, load)
        try:
            response = engine.evaluate(key, context, {"trace": bool(trace), "max_depth": 10})
        except RuntimeError as exc:
            raise BRMSError(400, f"evaluate.failed: {_first_line(exc)}") from None
        body: dict[str, Any] = {"result": response.get("result"), "performance": response.get("performance")}
        if trace:
            body["trace"] = response.get("trace")
        return body


def validate_decision(content: dict[str, Any]) -> None:
    """Raise ValueError if zen cannot load this JDM graph."""
    try:
        zen.ZenEngine().create_decision(json.dumps(content)).validate()
    except RuntimeError as exc:
        raise ValueError(_first_line(exc)) from None


def _first_line(exc: Exception) -> str:
    """zen errors carry a Rust backtrace; the first line is the useful part."""
    return (str(exc).strip().splitlines() or ["error"])[0][:300]

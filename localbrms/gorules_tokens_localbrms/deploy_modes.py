"""How ``POST /releases/deploy`` answers: a switch for tests, set through ``/_localbrms/deploy-mode``.

GoRules documents no response body for a deploy ("Deployment initiated successfully"), so a
real BRMS may answer with nothing, ``{}``, plain text or a shape we never saw. Each mode is one
such answer; the provider must cope with all of them. ``apply`` says whether the deploy really
happens (release deployed, or change request opened) behind the answer. The mode lives in
memory, like fault rules: a restart resets it to ``current``.
"""

from __future__ import annotations

import threading
from typing import Any, Literal

from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict

from gorules_tokens_localbrms.ids import new_id

DeployModeName = Literal["current", "empty", "empty-object", "text", "change-request", "unknown", "failure"]


class DeployMode(BaseModel):
    """The body of ``PUT /_localbrms/deploy-mode``."""

    model_config = ConfigDict(extra="forbid")

    mode: DeployModeName = "current"
    apply: bool = True

    @property
    def applies(self) -> bool:
        """A failure answer never deploys anything, whatever ``apply`` says."""
        return self.apply and self.mode != "failure"

    @property
    def forces_change_request(self) -> bool:
        return self.mode == "change-request"


class DeployModeSwitch:
    """The current mode, shared by the request threads."""

    def __init__(self) -> None:
        self._mode = DeployMode()
        self._lock = threading.Lock()

    def get(self) -> DeployMode:
        with self._lock:
            return self._mode

    def set(self, mode: DeployMode) -> DeployMode:
        with self._lock:
            self._mode = mode
            return mode


def answer(mode: DeployMode, current: dict[str, Any] | None) -> Response:
    """The HTTP answer for ``mode``; ``current`` is what the ``current`` mode would send."""
    if mode.mode in ("current", "change-request"):
        return JSONResponse(current if current is not None else {})
    if mode.mode == "empty":
        return Response(status_code=201)
    if mode.mode == "empty-object":
        return JSONResponse({})
    if mode.mode == "text":
        return PlainTextResponse("Deployment initiated successfully")
    if mode.mode == "unknown":
        return JSONResponse({"accepted": True, "jobId": new_id()}, status_code=202)
    return JSONResponse({"status": "failed", "message": "Deployment failed: storage not reachable"})

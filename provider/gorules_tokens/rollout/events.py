"""What an engine operation says of itself, from its event log (``--event-log FILE``, one JSON
engine event a line), so the rollout learns which tokens were minted and which failed from
the operation that did it, with no CLI read afterwards."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

from ..deferral import DEFERRED

TOKEN_TYPE_SUFFIX = "gorules:EnvironmentToken"
# Steps that mint a token for a resource (a preview's "would", an update's "did").
MINTING_OPS = frozenset({"create", "replace", "create-replacement"})


def resource_name(urn: str) -> str:
    return urn.rsplit("::", 1)[-1]


def is_token(urn: Optional[str]) -> bool:
    return bool(urn) and "::" in urn and urn.split("::")[-2].endswith(TOKEN_TYPE_SUFFIX)


@dataclass
class Steps:
    """The token resources one operation minted (or, in a preview, would mint), the ones whose
    step failed, and errors not tied to any resource (the program, the lock, a cancel)."""

    planned: list[str] = field(default_factory=list)  # a step to mint began (all a preview has)
    minted: list[str] = field(default_factory=list)  # ... and ended with the resource's outputs
    failed: dict[str, str] = field(default_factory=dict)  # resource name -> its URN
    # Agent-served tokens whose redeploy waits for an `up` without the deferral (their Agents
    # still accept only the previous token), and those this operation deployed after a wait.
    deferred: list[str] = field(default_factory=list)
    switched: list[str] = field(default_factory=list)
    general_errors: list[str] = field(default_factory=list)
    result: Optional[str] = None  # the summary's: "succeeded", "failed", ... (None: no summary)
    cancelled: bool = False
    stack_outputs_written: bool = False

    def add(self, event: dict[str, Any]) -> None:
        pre = event.get("resourcePreEvent")
        done = event.get("resOutputsEvent")
        failed = event.get("resOpFailedEvent")
        diagnostic = event.get("diagnosticEvent")
        if pre and pre["metadata"].get("op") in MINTING_OPS and is_token(pre["metadata"].get("urn")):
            self._once(self.planned, resource_name(pre["metadata"]["urn"]))
        if done:
            urn = done["metadata"].get("urn", "")
            if urn.split("::")[-2:-1] == ["pulumi:pulumi:Stack"]:
                self.stack_outputs_written = True
            elif is_token(urn):
                self._token_done(done["metadata"], resource_name(urn))
        if failed and failed["metadata"].get("urn"):
            self._fail(failed["metadata"]["urn"])
        if diagnostic and diagnostic.get("severity") == "error":
            if diagnostic.get("urn") and not diagnostic["urn"].split("::")[-2].endswith("pulumi:pulumi:Stack"):
                # A failed refresh in a preview says so only in a diagnostic.
                self._fail(diagnostic["urn"])
            else:
                self.general_errors.append(str(diagnostic.get("message", "")).strip())
        if "summaryEvent" in event:
            self.result = event["summaryEvent"].get("result")
        if "cancelEvent" in event and self.result is None:
            self.cancelled = True

    def _token_done(self, metadata: dict[str, Any], name: str) -> None:
        if metadata.get("op") in MINTING_OPS:
            self._once(self.minted, name)
        status_now = ((metadata.get("new") or {}).get("outputs") or {}).get("redeploy_status")
        status_before = ((metadata.get("old") or {}).get("outputs") or {}).get("redeploy_status")
        if status_now == DEFERRED:
            self._once(self.deferred, name)
        elif status_before == DEFERRED:
            self._once(self.switched, name)

    def _fail(self, urn: str) -> None:
        if is_token(urn):
            self.failed.setdefault(resource_name(urn), urn)
        else:
            self.general_errors.append(f"{urn}: failed")

    @staticmethod
    def _once(names: list[str], name: str) -> None:
        if name not in names:
            names.append(name)

    @property
    def only_resources_failed(self) -> bool:
        """True when every error belongs to a token resource, so excluding them can succeed."""
        generic = [e for e in self.general_errors if e not in ("update failed", "preview failed", "refresh failed")]
        return bool(self.failed) and not generic and not self.cancelled


def parse_events(lines: Iterable[str]) -> Steps:
    steps = Steps()
    for line in lines:
        line = line.strip()
        if not line:
            continue
        try:
            steps.add(json.loads(line))
        except (ValueError, KeyError, TypeError, IndexError):
            continue  # a partial last line of a killed run, or an event shape we do not read
    return steps


class Follower:
    """Reads an event log while the engine writes it and hands each whole event on as it comes
    (polled every 20 ms: the engine writes one line per event, flushing each)."""

    def __init__(self, path: Path, on_event: Callable[[dict[str, Any]], None]) -> None:
        self.path = path
        self.on_event = on_event
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._follow, daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        offset, partial = 0, ""
        while True:
            finished = self._done.is_set()
            if self.path.exists():
                with self.path.open() as handle:
                    handle.seek(offset)
                    chunk = handle.read()
                    offset = handle.tell()
                partial += chunk
                *lines, partial = partial.split("\n")
                for line in lines:
                    self._deliver(line)
            if finished:
                return
            self._done.wait(0.02)

    def _deliver(self, line: str) -> None:
        try:
            event = json.loads(line)
        except ValueError:
            return
        try:
            self.on_event(event)
        except Exception:  # a callback's bug must not stop the engine's events from being read
            pass

    def stop(self) -> None:
        """After the engine ended: reads what is left, then returns."""
        self._done.set()
        self._thread.join()

"""What a GoRules Agent holds in memory: the artifacts of one storage, reloaded by polling.

A real Agent is its own service. It lists the release zips in the storage it is configured
for (S3, Azure, GCS...), loads each one (its decisions and ``.config/project.json``) and
serves them until the next poll, every ``POLL_INTERVAL`` (default 5 s). So after a deploy it
keeps the previous artifact, and with it the previous ``accessTokens``, for up to one poll
interval. Here the storage is one Deployment's rows in :mod:`localbrms.repo.artifacts`, and a
background thread polls it.
"""

from __future__ import annotations

import hmac
import json
import logging
import sqlite3
import threading
import time
from dataclasses import dataclass
from typing import Any

from localbrms.engine import DecisionEngine
from localbrms.repo import artifacts
from localbrms.store import Store

log = logging.getLogger("localbrms.agent")
DEFAULT_POLL_INTERVAL_S = 5.0  # the real Agent's POLL_INTERVAL default (5000 ms)


@dataclass(frozen=True)
class LoadedProject:
    """One artifact as loaded at a poll; never changes until the next poll replaces it."""

    key: str
    revision: str
    release_id: str
    config: dict[str, Any]

    @property
    def project_id(self) -> str | None:
        project = self.config.get("project") or {}
        return project.get("id")

    def can_access(self, token: str | None) -> bool:
        """Exact match against the artifact's ``accessTokens`` (the Agent never asks BRMS)."""
        tokens = self.config.get("accessTokens")
        if not isinstance(tokens, list):
            return True  # no project config in the artifact: the Agent serves without auth
        given = (token or "").encode()
        return any(isinstance(t, str) and hmac.compare_digest(t.encode(), given) for t in tokens)


class AgentState:
    """The loaded projects of one storage and the poller that refreshes them."""

    def __init__(self, store: Store, deployment_name: str, poll_interval: float) -> None:
        if poll_interval <= 0:
            raise ValueError("the Agent poll interval must be positive")
        self.store = store
        self.deployment_name = deployment_name
        self.poll_interval = poll_interval
        self.engine = DecisionEngine()
        self._projects: dict[str, LoadedProject] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._poll_lock = threading.Lock()  # one poll at a time; hold() waits for it
        self._held = False
        self.polls_started = 0
        self.polls_completed = 0
        self.last_poll_at: float | None = None

    # -- lookups (request threads) -----------------------------------------------------

    def project(self, ref: str) -> LoadedProject | None:
        """By storage key (the project key), else by the project id in the artifact's config."""
        with self._lock:
            found = self._projects.get(ref)
            if found is not None:
                return found
            return next((p for p in self._projects.values() if p.project_id == ref), None)

    def status(self) -> dict[str, Any]:
        """For tests: poll counters and what is loaded (never the tokens)."""
        with self._lock:
            loaded = [
                {"key": p.key, "projectId": p.project_id, "releaseId": p.release_id, "revision": p.revision}
                for p in self._projects.values()
            ]
            return {
                "deployment": self.deployment_name,
                "pollInterval": self.poll_interval,
                "pollsStarted": self.polls_started,
                "pollsCompleted": self.polls_completed,
                "held": self._held,
                "lastPollAt": self.last_poll_at,
                "projects": loaded,
            }

    # -- polling (poller thread) -------------------------------------------------------

    def poll_once(self, *, scheduled: bool = False) -> None:
        with self._poll_lock:
            if scheduled and self._held:
                return
            with self._lock:
                self.polls_started += 1
            try:
                with self.store.read() as conn:
                    rows = self._storage(conn)
                self._apply(rows)
            except Exception:  # a failed poll keeps serving what was loaded, as the Agent does
                log.exception("agent poll failed")
            finally:
                with self._lock:
                    self.polls_completed += 1
                    self.last_poll_at = time.time()

    def hold(self, held: bool) -> None:
        """For tests: while held, scheduled polls are skipped, so what the Agent serves cannot
        change; returns once a poll in progress has finished."""
        with self._poll_lock:
            self._held = held

    def _storage(self, conn: sqlite3.Connection) -> list[sqlite3.Row]:
        deployment = conn.execute(
            "SELECT id FROM deployments WHERE name = ? AND deleted_at IS NULL", (self.deployment_name,)
        ).fetchone()
        return [] if deployment is None else artifacts.in_storage(conn, deployment["id"])

    def _apply(self, rows: list[sqlite3.Row]) -> None:
        with self._lock:
            current = self._projects
        fresh: dict[str, LoadedProject] = {}
        for row in rows:
            known = current.get(row["project_key"])
            if known is not None and known.revision == row["revision"]:
                fresh[known.key] = known
                continue
            fresh[row["project_key"]] = LoadedProject(
                key=row["project_key"],
                revision=row["revision"],
                release_id=row["release_id"],
                config=json.loads(row["config"]),
            )
        with self._lock:
            self._projects = fresh

    def start(self) -> None:
        """Load once now (the Agent loads before it serves), then poll in the background."""
        self.poll_once()
        self._thread = threading.Thread(target=self._loop, name="agent-poller", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.poll_interval):
            self.poll_once(scheduled=True)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

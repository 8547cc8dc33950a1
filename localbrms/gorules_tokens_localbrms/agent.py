"""What a GoRules Agent holds in memory: the release zips of one storage, reloaded by polling.

A real Agent is its own service. It lists the release zips in the storage it is configured
for (S3, Azure, GCS...), loads each one (its decisions and ``.config/project.json``) and
serves them until the next poll, every ``POLL_INTERVAL`` (default 5 s). So after a deploy it
keeps the previous zip, and with it the previous ``accessTokens``, for up to one poll
interval. The storage here is the Deployment's: its S3 bucket when it names one (listed and
downloaded as the Agent's S3 provider does), else the embedded SQLite rows, read back as the
same zips. A poll follows the Agent's diff (``src/provider/mod.rs``, v1.26.0): an object whose
ETag is unchanged is kept as loaded; a new or changed one is downloaded and loaded; one that
is gone, cannot be downloaded or fails to load is dropped (and a zip that failed to load is
not tried again until its ETag changes); a listing that fails keeps everything as it was.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gorules_tokens_localbrms import release_zip
from gorules_tokens_localbrms.engine import DecisionEngine
from gorules_tokens_localbrms.object_storage import StoredObject, bucket_for
from gorules_tokens_localbrms.release_zip import ReleaseArchive, ReleaseZipError
from gorules_tokens_localbrms.repo import artifacts, deployments
from gorules_tokens_localbrms.store import Store

log = logging.getLogger("gorules_tokens_localbrms.agent")
DEFAULT_POLL_INTERVAL_S = 5.0  # the real Agent's POLL_INTERVAL default (5000 ms)
Fetch = Callable[[str], bytes]


@dataclass(frozen=True)
class LoadedProject:
    """One release zip as loaded at a poll; never changes until a poll replaces it."""

    key: str  # the object key without the Deployment's path, exactly as stored
    revision: str  # the object's ETag (SQLite storage: the artifact row's revision)
    archive: ReleaseArchive

    @property
    def project_id(self) -> str | None:
        data = self.archive.release_data
        return data.project_id if data is not None else None

    @property
    def release_id(self) -> str | None:
        data = self.archive.release_data
        return data.release_id if data is not None else None

    @property
    def config(self) -> dict[str, Any]:
        data = self.archive.release_data
        return dict(data.raw) if data is not None else {}

    def can_access(self, token: str | None) -> bool:
        """Exact match against the zip's ``accessTokens`` (the Agent never asks BRMS)."""
        return self.archive.can_access(token)


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
        self._failed: set[str] = set()  # ETags of zips that failed to load (the Agent's registry)
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
                self._poll()
            except Exception as exc:  # a failed listing keeps serving what was loaded, as the Agent does
                # botocore's messages name the operation and the error code, never a credential
                log.warning("agent poll failed: %s: %s", type(exc).__name__, str(exc).splitlines()[0][:300])
            finally:
                with self._lock:
                    self.polls_completed += 1
                    self.last_poll_at = time.time()

    def hold(self, held: bool) -> None:
        """For tests: while held, scheduled polls are skipped, so what the Agent serves cannot
        change; returns once a poll in progress has finished."""
        with self._poll_lock:
            self._held = held

    def _poll(self) -> None:
        with self.store.read() as conn:
            deployment = deployments.get_by_name(conn, self.deployment_name)
            location = deployments.s3_location(deployment)
            if location is None:
                rows = {} if deployment is None else {
                    row["project_key"]: row for row in artifacts.in_storage(conn, deployment["id"])
                }
        if location is not None:
            bucket = bucket_for(location)
            self._apply(bucket.list(), lambda name: bucket.get(name)[0])
        else:
            # Only changed rows are turned into zips; their release's documents never change.
            listed = [StoredObject(key, row["revision"]) for key, row in rows.items()]
            self._apply(listed, lambda name: artifacts.zip_of(self.store.conn(), rows[name]))

    def _apply(self, listed: list[StoredObject], fetch: Fetch) -> None:
        with self._lock:
            current = self._projects
        fresh: dict[str, LoadedProject] = {}
        for obj in listed:
            if obj.etag and obj.etag in self._failed:
                continue
            known = current.get(obj.name)
            if known is not None and known.revision == obj.etag:
                fresh[obj.name] = known
                continue
            try:
                data = fetch(obj.name)
            except Exception as exc:  # the Agent skips an object it cannot download
                log.warning("agent: cannot download %s: %s", obj.name, type(exc).__name__)
                continue
            try:
                archive = release_zip.read(data)
            except ReleaseZipError as exc:
                log.warning("agent: cannot load %s: %s", obj.name, exc)
                if obj.etag:
                    self._failed.add(obj.etag)
                continue
            fresh[obj.name] = LoadedProject(key=obj.name, revision=obj.etag, archive=archive)
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

"""State shared by every provider call of one plugin process: pooled HTTP clients, the
list cache, the outage registry, the retry policy and the run's ledger of environments.

The engine serves all dynamic resources of a deployment from one process on up to four
threads and shares one unpickled provider instance, so this state is process-wide,
thread-safe, and never part of the pickled provider.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

from .cache import SingleFlightCache
from .config import Credentials, HttpSettings
from .fields import canon_uuid
from .outage import OutageRegistry

if TYPE_CHECKING:
    # httpx and tenacity load on the first network call, not at import: the program and a
    # no-change preview never pay for them (see docs/PERFORMANCE.md).
    from .client import BrmsClient, HttpPool
    from .models import EnvironmentListItem
    from .retry import RetryPolicy


class RunLedger:
    """What this run (one plugin process) has seen, for the rules that span resources.

    The engine never tells ``create`` that it is half of a replacement, but it diffs every
    existing resource first, in the same process: an environment diffed in this run
    already has a resource, so a create for it is a replacement (or a rename) and must
    regenerate, never adopt; the type its state records spares a ``brms`` environment the
    list that reads a ``deployment`` environment's previous token. Tokens adopted in this run belong to a live resource, so no
    delete of the same run may revoke them; an environment whose token a create of this run
    minted has a successor, so a delete of the same run finds its own token dead and leaves
    the environment alone.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # Environment -> its type as the diffed resource's outputs say (None: not recorded).
        self._existing: dict[tuple[str, str], Optional[str]] = {}
        self._minted: set[tuple[str, str]] = set()
        self._adopted: set[str] = set()

    def note_existing(self, project_id: str, environment_id: str, environment_type: Optional[str] = None) -> None:
        with self._lock:
            self._existing[(canon_uuid(project_id), canon_uuid(environment_id))] = environment_type

    def has_existing(self, project_id: str, environment_id: str) -> bool:
        with self._lock:
            return (canon_uuid(project_id), canon_uuid(environment_id)) in self._existing

    def environment_type(self, project_id: str, environment_id: str) -> Optional[str]:
        """The type the diffed resource of the environment recorded; None when it was not
        diffed in this run (a first create, or a ``--replace`` target, which the engine
        does not diff) or its state does not say."""
        with self._lock:
            return self._existing.get((canon_uuid(project_id), canon_uuid(environment_id)))

    def note_minted(self, project_id: str, environment_id: str) -> None:
        with self._lock:
            self._minted.add((canon_uuid(project_id), canon_uuid(environment_id)))

    def minted(self, project_id: str, environment_id: str) -> bool:
        """A create of this run regenerated the environment's token (and redeployed it)."""
        with self._lock:
            return (canon_uuid(project_id), canon_uuid(environment_id)) in self._minted

    def note_adopted(self, token: str) -> None:
        with self._lock:
            self._adopted.add(token)

    def adopted(self, token: Optional[str]) -> bool:
        with self._lock:
            return token in self._adopted


class ProcessState:
    """The process-local machinery; see the module docstring."""

    def __init__(
        self,
        http_settings: Optional[HttpSettings] = None,
        policy: Optional[RetryPolicy] = None,
        transport: Optional[Any] = None,
    ) -> None:
        self._http_settings = http_settings
        self._transport = transport
        self._pool: Optional[HttpPool] = None
        self.ledger = RunLedger()
        self.outages = OutageRegistry()
        self.list_cache: SingleFlightCache[list[EnvironmentListItem]] = SingleFlightCache()
        self._policy = policy

    @property
    def pool(self) -> HttpPool:
        """Created on the first BRMS call: ``diff`` (a preview) uses the ledger only."""
        if self._pool is None:
            from .client import HttpPool

            self._pool = HttpPool(self._http_settings, transport=self._transport)
        return self._pool

    @property
    def policy(self) -> RetryPolicy:
        if self._policy is None:
            from .retry import RetryPolicy

            s = self.pool.settings
            self._policy = RetryPolicy(max_attempts=s.max_attempts, deadline=s.deadline)
        return self._policy

    def session(self, credentials: Credentials) -> Session:
        """A client for one BRMS whose mutations invalidate that BRMS's cached lists."""
        from .client import BrmsClient

        base_url = credentials.base_url
        client = BrmsClient(
            self.pool.get(base_url),
            credentials,
            self.policy,
            self.pool.settings,
            on_mutation=lambda project_id: self.list_cache.invalidate((base_url, canon_uuid(project_id))),
            outages=self.outages,
        )
        return Session(client, self.list_cache, self.ledger)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
        self.list_cache.clear()


@dataclass(frozen=True)
class Session:
    """What a token operation talks to: the wire client, the shared list cache, the run's ledger."""

    client: BrmsClient
    list_cache: SingleFlightCache[list[EnvironmentListItem]]
    ledger: RunLedger

    @property
    def base_url(self) -> str:
        return self.client.base_url

    def environments(self, project_id: str, *, cached: bool) -> list[EnvironmentListItem]:
        """The project's environment list; cached ones are shared by concurrent reads."""
        if not cached:
            return self.client.list_environments(project_id)
        key = (self.client.base_url, canon_uuid(project_id))
        return self.list_cache.get(key, lambda: self.client.list_environments(project_id))

    def tokens_before_regenerates(self, project_id: str, environment_id: str) -> list[EnvironmentListItem]:
        """The project's list as it was before this operation's first regenerate in it: one
        best-effort read (one attempt, see ``list_environments``) per project and operation.
        Kept under a key of its own that no regenerate or deploy invalidates, which is right for
        what it is read for (the token an environment holds before *its* regenerate): each
        environment is regenerated at most once per operation, and another's regenerate or a
        deploy leaves its token as it was."""
        key = (self.client.base_url, canon_uuid(project_id), "before-regenerates")
        if self.ledger.minted(project_id, environment_id):
            self.list_cache.invalidate(key)  # regenerated already in this process: read it anew
        return self.list_cache.get(key, lambda: self.client.list_environments(project_id, best_effort=True))


_PROCESS_STATE: Optional[ProcessState] = None
_PROCESS_STATE_LOCK = threading.Lock()


def process_state() -> ProcessState:
    """The process-wide state, created on first use (by any of the provider's threads)."""
    global _PROCESS_STATE
    with _PROCESS_STATE_LOCK:
        if _PROCESS_STATE is None:
            _PROCESS_STATE = ProcessState()
        return _PROCESS_STATE


def reset_process_state(state: Optional[ProcessState] = None) -> ProcessState:
    """Replace the process-wide state (tests); closes the previous clients."""
    global _PROCESS_STATE
    with _PROCESS_STATE_LOCK:
        if _PROCESS_STATE is not None:
            _PROCESS_STATE.close()
        _PROCESS_STATE = state or ProcessState()
        return _PROCESS_STATE

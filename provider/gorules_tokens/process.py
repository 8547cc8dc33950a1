"""State shared by every provider call of one plugin process: pooled HTTP clients, the
list cache, the outage registry and the retry policy.

The engine serves all dynamic resources of a deployment from one process on up to four
threads and shares one unpickled provider instance, so this state is process-wide,
thread-safe, and never part of the pickled provider.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Optional

from .cache import SingleFlightCache
from .config import Credentials, HttpSettings
from .fields import canon_uuid
from .outage import OutageRegistry

if TYPE_CHECKING:
    # httpx and tenacity load on the first network call, not at import: the program and a
    # no-change preview never pay for them (see docs/PERFORMANCE.md).
    from .client import BrmsClient
    from .models import EnvironmentListItem
    from .retry import RetryPolicy

LIST_CACHE_TTL = 5.0


class ProcessState:
    """The process-local machinery; see the module docstring."""

    def __init__(
        self,
        http_settings: Optional[HttpSettings] = None,
        policy: Optional[RetryPolicy] = None,
        cache_ttl: float = LIST_CACHE_TTL,
        transport: Optional[Any] = None,
    ) -> None:
        from .client import HttpPool

        self.pool = HttpPool(http_settings, transport=transport)
        self.outages = OutageRegistry()
        self.list_cache: SingleFlightCache[list[EnvironmentListItem]] = SingleFlightCache(ttl=cache_ttl)
        self._policy = policy

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
        return Session(client, self.list_cache)

    def close(self) -> None:
        self.pool.close()
        self.list_cache.clear()


class Session:
    """What a token operation talks to: the wire client and the shared list cache."""

    def __init__(self, client: BrmsClient, list_cache: SingleFlightCache[list[EnvironmentListItem]]) -> None:
        self.client = client
        self._cache = list_cache

    @property
    def base_url(self) -> str:
        return self.client.base_url

    def environments(self, project_id: str, *, cached: bool) -> list[EnvironmentListItem]:
        """The project's environment list; cached ones are shared by concurrent reads."""
        if not cached:
            return self.client.list_environments(project_id)
        key = (self.client.base_url, canon_uuid(project_id))
        return self._cache.get(key, lambda: self.client.list_environments(project_id))


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

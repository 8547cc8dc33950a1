"""The dynamic ResourceProvider behind ``EnvironmentToken``.

Facts about Pulumi 3.272's Python dynamic providers that shape this module
(see ``pulumi/dynamic/__main__.py``):

* ``diff``, ``update`` (``olds``), ``read`` and ``delete`` receive the OLD
  OUTPUTS, never the old inputs, so every input is echoed into the outputs.
* A default ``update`` wipes all outputs; ours returns the full set.
* The provider object is pickled into ``__provider``. It lives in this
  importable module so dill pickles it by reference (a few dozen bytes), and
  ``__getstate__`` keeps credentials, clients and caches out of the pickle.
* One provider process serves every dynamic resource of a deployment on up to
  4 threads and shares one unpickled instance, so nothing per-call is stored on
  ``self``; shared machinery lives in :class:`ProcessState` (thread-safe).
* Exceptions reach the CLI with full tracebacks, so every error raised here is
  a scrubbed ``BrmsError``/``ConfigError`` (raised ``from None``).
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable, Optional

from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    ConfigureRequest,
    CreateResult,
    DiffResult,
    ReadResult,
    ResourceProvider,
    UpdateResult,
)
from pulumi.output import Unknown
from pulumi.runtime.rpc import UNKNOWN

from .cache import SingleFlightCache
from .config import CONFIG_TOKEN_KEY, CONFIG_URL_KEY, HttpSettings, ProviderConfig, normalize_base_url
from .durations import DurationError, parse_duration
from .errors import BrmsError, ConfigError, scrub
from .fingerprint import fingerprint
from .inputs import INPUT_FIELDS, InputError, TokenInputs, default_of, parse_uuid, validate_inputs
from .outage import OutageRegistry
from .schedule import format_timestamp, next_rotation_at, rotation_due, utc_now

if TYPE_CHECKING:
    # httpx and tenacity load on the first network call, not at import: the program and a
    # no-change preview never pay for them (see docs/PERFORMANCE.md).
    from .client import BrmsClient
    from .models import EnvironmentListItem
    from .retry import RetryPolicy

log = logging.getLogger("gorules_tokens")

PROVIDER_KEY = "__provider"

OUTPUT_FIELDS = (
    "access_token",
    "fingerprint",
    "rotated_at",
    "next_rotation_at",
    "environment_name",
    "environment_key",
    "environment_type",
    "release_id",
    "redeploy_status",
    "token_source",
)
# Inputs whose change means "another token": replace (= regenerate).
REPLACE_FIELDS = ("project_id", "environment_id", "api_url", "keepers")
# Inputs that only change behaviour: in-place update, token kept.
UPDATE_FIELDS = ("rotate_after", "revoke_on_delete", "adopt_existing", "redeploy")

REDEPLOY_COMMENT = "Redeploy after environment access token rotation (gorules-tokens)"

STATUS_DEPLOYED = "deployed"
STATUS_SKIPPED = "skipped"
STATUS_NOT_NEEDED = "not_needed"
STATUS_FAILED_PREFIX = "failed:"

SOURCE_REGENERATED = "regenerated"
SOURCE_ADOPTED = "adopted"
SOURCE_ADOPTED_ON_REFRESH = "adopted_on_refresh"

_ID_FIELDS = ("project_id", "environment_id")

LIST_CACHE_TTL = 5.0
_PLACEHOLDER_UUID = "00000000-0000-0000-0000-000000000000"


class ProcessState:
    """Machinery shared by every provider call in this process.

    Holds the pooled HTTP clients, the list cache and the retry policy. It is
    deliberately NOT part of the pickled provider.
    """

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

    def close(self) -> None:
        self.pool.close()
        self.list_cache.clear()


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


# -- helpers ---------------------------------------------------------------


def _has_unknown(value: Any) -> bool:
    """Preview unknowns: 3.272 deserializes them to ``pulumi.output.Unknown``
    instances (``keep_unknowns=True``); the raw wire sentinel string
    ``rpc.UNKNOWN`` is accepted too."""
    if isinstance(value, Unknown):
        return True
    if isinstance(value, str):
        return value == UNKNOWN
    if isinstance(value, dict):
        return any(_has_unknown(v) for v in value.values()) or any(_has_unknown(k) for k in value)
    if isinstance(value, (list, tuple)):
        return any(_has_unknown(v) for v in value)
    return False


def _canon_uuid(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return parse_uuid(value)
        except ValueError:
            return value
    return value


def _canon_url(value: Any) -> Any:
    if not value:
        return None
    try:
        return normalize_base_url(value)
    except ConfigError:
        return value


def _canon_duration(value: Any) -> Any:
    if not value:
        return None
    try:
        return parse_duration(value).total_seconds()
    except DurationError:
        return value


def _ids_from(id_: str, props: dict[str, Any]) -> tuple[str, str]:
    """Project/environment ids from the ``p/e`` resource id (outputs of older states also hold them)."""
    project_id, environment_id = props.get("project_id"), props.get("environment_id")
    if not (project_id and environment_id) and id_ and "/" in id_:
        project_id, environment_id = id_.split("/", 1)
    if not (project_id and environment_id):
        raise ConfigError(f"resource {id_!r} has no project_id/environment_id in its state")
    return str(project_id), str(environment_id)


def _find(items: list[EnvironmentListItem], environment_id: str) -> Optional[EnvironmentListItem]:
    wanted = _canon_uuid(environment_id)
    for item in items:
        if _canon_uuid(item.id) == wanted and not item.deleted_at:
            return item
    return None


def _project_gone(exc: BrmsError) -> bool:
    """A 404 for the project itself, not an unknown route (wrong base URL)."""
    return exc.status == 404 and not exc.brms_message.startswith("Route ")


def _redeploy_pending(status: Any) -> bool:
    return status == STATUS_SKIPPED or (isinstance(status, str) and status.startswith(STATUS_FAILED_PREFIX))


# -- the provider ----------------------------------------------------------


class EnvironmentTokenProvider(ResourceProvider):
    """CRUD for one GoRules environment access token (see ``provider/README.md``)."""

    def __init__(
        self,
        *,
        state: Optional[ProcessState] = None,
        clock: Optional[Callable[[], datetime]] = None,
    ) -> None:
        super().__init__()
        self._state = state
        self._clock = clock
        self._config = ProviderConfig()

    # Pickling: only a format marker survives. The config (PAT!), clients,
    # caches and clock are process-local and rebuilt on unpickle.
    def __getstate__(self) -> dict[str, Any]:
        return {"v": 1}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__()  # type: ignore[misc]

    def configure(self, req: ConfigureRequest) -> None:
        """Remember stack config; validated lazily on first BRMS call."""
        self._config = ProviderConfig(
            api_url=req.config.get(CONFIG_URL_KEY),
            token=req.config.get(CONFIG_TOKEN_KEY),
        )

    # -- plumbing ----------------------------------------------------------

    def _process(self) -> ProcessState:
        return self._state if self._state is not None else process_state()

    def _now(self) -> datetime:
        return self._clock() if self._clock is not None else utc_now()

    def _client(self, api_url: Optional[str]) -> BrmsClient:
        from .client import BrmsClient

        credentials = self._config.resolve(api_url)
        state = self._process()
        base_url = credentials.base_url
        return BrmsClient(
            state.pool.get(base_url),
            credentials,
            state.policy,
            state.pool.settings,
            on_mutation=lambda project_id: state.list_cache.invalidate((base_url, _canon_uuid(project_id))),
            outages=state.outages,
        )

    def _list(self, client: BrmsClient, project_id: str, *, cached: bool) -> list[EnvironmentListItem]:
        if not cached:
            return client.list_environments(project_id)
        key = (client.base_url, _canon_uuid(project_id))
        return self._process().list_cache.get(key, lambda: client.list_environments(project_id))

    @staticmethod
    def _inputs(props: dict[str, Any]) -> TokenInputs:
        try:
            return validate_inputs({k: props[k] for k in INPUT_FIELDS if k in props})
        except InputError as exc:
            raise ConfigError(f"invalid EnvironmentToken inputs: {exc}") from None

    def _redeploy(
        self,
        client: BrmsClient,
        *,
        project_id: str,
        environment_id: str,
        env_type: Optional[str],
        release_id: Optional[str],
        enabled: bool,
    ) -> str:
        """Redeploy the current release so Agents pick up the new token.

        Agents of ``deployment`` environments validate tokens against the
        deployed artifact, not against the BRMS. A failed redeploy is recorded
        (and retried by the next ``up``) instead of failing the operation,
        because the freshly minted token must reach the state either way;
        ``deploys.redeploy_release`` says which outcomes are retried.
        """
        if env_type != "deployment" or not release_id:
            return STATUS_NOT_NEEDED
        if not enabled:
            return STATUS_SKIPPED
        from .deploys import redeploy_release

        return redeploy_release(
            client, project_id=project_id, environment_id=environment_id, release_id=release_id,
            comment=REDEPLOY_COMMENT,
        )

    @staticmethod
    def _echo(inputs: TokenInputs) -> dict[str, Any]:
        """Inputs that later calls need, as outputs: the engine hands ``diff``, ``read`` and
        ``delete`` only the old outputs. Defaults and the ids (they are in the resource id)
        are left out, since the engine rewrites every byte of state at each checkpoint."""
        return {k: v for k, v in inputs.compact().items() if k not in _ID_FIELDS}

    # -- check -------------------------------------------------------------

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        """Validate and default every input; no network, unknowns pass through."""
        failures: list[CheckFailure] = []
        raw: dict[str, Any] = {}
        unknown: dict[str, Any] = {}
        for key, value in news.items():
            if key == PROVIDER_KEY:
                continue
            if key in OUTPUT_FIELDS:
                if value is not None and not _has_unknown(value):
                    failures.append(CheckFailure(key, f"{key} is an output and cannot be set"))
                continue
            if value is None:
                continue
            if key not in INPUT_FIELDS:
                failures.append(CheckFailure(key, f"unknown input '{key}'"))
                continue
            if _has_unknown(value):
                unknown[key] = value
                if key == "keepers" and isinstance(value, dict):
                    # Validate the known part; unknown names/values are checked at `up`.
                    raw[key] = {k: v for k, v in value.items() if not _has_unknown(k) and not _has_unknown(v)}
                continue
            raw[key] = value

        # Stand-ins let the rest of the inputs be validated while a value is
        # still unknown (preview); the sentinel is put back afterwards.
        for key in ("project_id", "environment_id"):
            if key in unknown:
                raw[key] = _PLACEHOLDER_UUID
        inputs: dict[str, Any] = {}
        try:
            inputs = validate_inputs(raw).compact()
        except InputError as exc:
            failures.extend(CheckFailure(p.field, p.describe()) for p in exc.problems)
        if failures:
            return CheckResult(news, failures)
        inputs.update(unknown)
        if PROVIDER_KEY in news:
            inputs[PROVIDER_KEY] = news[PROVIDER_KEY]
        return CheckResult(inputs, [])

    # -- diff --------------------------------------------------------------

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        """Decide replace/update/no-op from OLD OUTPUTS vs new inputs; no network.

        ``__provider`` is ignored: it is a by-reference pickle, identical across
        runs, and a stale copy in the outputs unpickles to the same class.
        """
        replaces: list[str] = []
        changed: list[str] = []

        for name, old in zip(_ID_FIELDS, _ids_from(_id, olds)):
            new = news.get(name)
            if _has_unknown(new) or _canon_uuid(new) != _canon_uuid(old):
                replaces.append(name)

        new_url, old_url = news.get("api_url"), olds.get("api_url")
        if _has_unknown(new_url):
            replaces.append("api_url")
        elif _canon_url(new_url) != _canon_url(old_url):
            # Another BRMS instance means another token. Setting api_url to
            # the URL already in effect via stack config / GORULES_URL (or
            # removing it) is only recorded.
            default = self._config.default_base_url()
            if (_canon_url(new_url) or default) != (_canon_url(old_url) or default):
                replaces.append("api_url")
            else:
                changed.append("api_url")

        new_keepers = news.get("keepers")
        if _has_unknown(new_keepers) or (new_keepers or {}) != (olds.get("keepers") or {}):
            replaces.append("keepers")

        if not olds.get("access_token"):
            # A state without a token is useless (e.g. outputs wiped by an old
            # default update); mint a new one.
            replaces.append("access_token")

        new_rotate = news.get("rotate_after")
        if _has_unknown(new_rotate):
            changed.append("rotate_after")
        else:
            if _canon_duration(new_rotate) != _canon_duration(olds.get("rotate_after")):
                changed.append("rotate_after")
            if new_rotate:
                try:
                    due = rotation_due(olds.get("rotated_at"), new_rotate, self._now())
                except DurationError:
                    due = False  # check() reports the bad value
                if due:
                    replaces.append("rotate_after")

        for name in UPDATE_FIELDS[1:]:  # rotate_after handled above
            new = news.get(name)
            if _has_unknown(new) or default_of(news, name) != default_of(olds, name):
                changed.append(name)

        new_redeploy = news.get("redeploy")
        if (
            not _has_unknown(new_redeploy)
            and default_of(news, "redeploy")
            and _redeploy_pending(olds.get("redeploy_status"))
        ):
            changed.append("redeploy_status")

        if replaces:
            return DiffResult(changes=True, replaces=sorted(set(replaces)), delete_before_replace=False)
        if changed:
            return DiffResult(changes=True, replaces=[])
        return DiffResult(changes=False, replaces=[])

    # -- create ------------------------------------------------------------

    def create(self, props: dict[str, Any]) -> CreateResult:
        """Regenerate (or adopt) the token and return the complete outputs."""
        inputs = self._inputs(props)
        project_id, environment_id = inputs.project_id, inputs.environment_id
        client = self._client(inputs.api_url)

        if inputs.adopt_existing:
            item = self._live_environment(client, project_id, environment_id, operation="adopt-existing")
            token = item.token
            if not token:
                raise BrmsError(
                    "adopt-existing",
                    message="the environment list returned no access token for this environment, so there is "
                    "nothing to adopt (set adopt_existing=False to regenerate instead)",
                    project_id=project_id, environment_id=environment_id,
                )
            name, key, env_type, release_id = item.name, item.key, item.type, item.effective_release_id
            redeploy_status, source = STATUS_NOT_NEEDED, SOURCE_ADOPTED
        else:
            env = client.regenerate_token(project_id, environment_id)
            token = env.access_token.get_secret_value()
            name, key, env_type, release_id = env.name, env.key, env.type, env.release_id
            redeploy_status = self._redeploy(
                client, project_id=project_id, environment_id=environment_id,
                env_type=env_type, release_id=release_id, enabled=inputs.redeploy,
            )
            source = SOURCE_REGENERATED

        rotated_at = format_timestamp(self._now())
        outs = self._echo(inputs)
        outs.update(
            access_token=token,
            fingerprint=fingerprint(token),
            rotated_at=rotated_at,
            next_rotation_at=next_rotation_at(rotated_at, inputs.rotate_after),
            environment_name=name,
            environment_key=key,
            environment_type=env_type,
            release_id=release_id,
            redeploy_status=redeploy_status,
            token_source=source,
        )
        return CreateResult(f"{project_id}/{environment_id}", outs)

    def _live_environment(
        self, client: BrmsClient, project_id: str, environment_id: str, *, operation: str, cached: bool = True
    ) -> EnvironmentListItem:
        items = self._list(client, project_id, cached=cached)
        item = _find(items, environment_id)
        if item is None:
            raise BrmsError(
                operation, status=404, message="environment not found in the project's environment list",
                project_id=project_id, environment_id=environment_id,
            )
        return item

    def _current(
        self, id_: str, props: dict[str, Any], *, cached: bool
    ) -> tuple[BrmsClient, str, str, Optional[EnvironmentListItem]]:
        """The resource's environment as the BRMS lists it now; None if it or its project is gone.

        Errors other than a missing project (auth, unknown route, outage) propagate, so a
        refresh or destroy never drops a token from state because the BRMS was misreached.
        """
        project_id, environment_id = _ids_from(id_, props)
        client = self._client(props.get("api_url"))
        try:
            items = self._list(client, project_id, cached=cached)
        except BrmsError as exc:
            if _project_gone(exc):
                return client, project_id, environment_id, None
            raise
        return client, project_id, environment_id, _find(items, environment_id)

    # -- update ------------------------------------------------------------

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        """Non-replacing change: keep the token and every output, refresh echoes.

        Also retries a redeploy that was skipped or failed earlier when
        ``redeploy`` is (now) enabled.
        """
        inputs = self._inputs(news)
        # Echoes are rebuilt from the new inputs, so one reset to its default disappears.
        outs = {k: v for k, v in olds.items() if k != PROVIDER_KEY and k not in INPUT_FIELDS}
        outs.update(self._echo(inputs))
        rotated_at = outs.get("rotated_at")
        try:
            outs["next_rotation_at"] = next_rotation_at(rotated_at, inputs.rotate_after) if rotated_at else None
        except ValueError:
            outs["next_rotation_at"] = None
        if inputs.redeploy and _redeploy_pending(olds.get("redeploy_status")):
            client = self._client(inputs.api_url)
            item = self._live_environment(
                client, inputs.project_id, inputs.environment_id, operation="redeploy", cached=False
            )
            outs["redeploy_status"] = self._redeploy(
                client, project_id=inputs.project_id, environment_id=inputs.environment_id,
                env_type=item.type, release_id=item.effective_release_id, enabled=True,
            )
        return UpdateResult(outs)

    # -- read --------------------------------------------------------------

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        """Refresh: drop from state when gone, adopt an out-of-band token.

        ``rotated_at`` is kept on adoption: the real age of the foreign token is
        unknown, and keeping the older anchor can only make rotation earlier,
        never later. An empty/hidden live token never overwrites the stored one.
        """
        _, project_id, environment_id, item = self._current(id_, props, cached=True)
        if item is None:
            return ReadResult(None, {})

        outs = {k: v for k, v in props.items() if k != PROVIDER_KEY}
        if not outs:
            # A get or import knows only the id; the engine takes the ids from here as inputs.
            outs.update(project_id=project_id, environment_id=environment_id)
        live = item.token
        if live and live != outs.get("access_token"):
            outs["access_token"] = live
            outs["fingerprint"] = fingerprint(live)
            outs["token_source"] = SOURCE_ADOPTED_ON_REFRESH
        outs.update(
            environment_name=item.name,
            environment_key=item.key,
            environment_type=item.type,
            release_id=item.effective_release_id,
        )
        return ReadResult(id_, outs)

    # -- delete ------------------------------------------------------------

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        """No API call unless ``revoke_on_delete``; never kill a successor.

        With the default create-before-delete replacement, the new token already
        exists when the old resource is deleted, so a revoke only happens while
        the live token still equals the one this resource owns.
        """
        if not props.get("revoke_on_delete"):
            return
        client, project_id, environment_id, item = self._current(id_, props, cached=False)
        if item is None:
            return
        live = item.token
        if not live:
            log.warning(
                "warning: not revoking the token of environment %s: the BRMS list hides the live token, so it "
                "cannot be confirmed that it is still the one this resource owns", environment_id,
            )
            return
        if live != props.get("access_token"):
            return  # replaced (successor) or rotated out of band: not ours anymore
        env = client.regenerate_token(project_id, environment_id)
        status = self._redeploy(
            client, project_id=project_id, environment_id=environment_id,
            env_type=env.type, release_id=env.release_id, enabled=bool(default_of(props, "redeploy")),
        )
        if status.startswith("change_request:") or status == STATUS_SKIPPED:
            log.warning(
                "warning: revoked the token of environment %s, but Agents keep accepting it until a release is "
                "deployed (redeploy %s)", environment_id, scrub(status),
            )

"""The dynamic ResourceProvider behind ``EnvironmentToken``: a thin adapter.

It translates the engine's calls to and from the modules that hold the logic: the field
table (``fields.py``) and input checks (``inputs.py``), the pure diff plan (``plan.py``)
and the token operations (``operations.py``) over the process-wide state (``process.py``).

Facts about Pulumi 3.272's Python dynamic providers that shape it
(see ``pulumi/dynamic/__main__.py``):

* ``diff``, ``update`` (``olds``), ``read`` and ``delete`` receive the OLD OUTPUTS, never
  the old inputs, so inputs are echoed into the outputs and the ids live in the resource id.
* A default ``update`` wipes all outputs; ours returns the full set.
* The provider object is pickled into ``__provider``. This class lives in this importable
  module so dill pickles it by reference (a few dozen bytes), and ``__reduce__`` keeps
  credentials, clients and caches out of the pickle. Moving or renaming it breaks refresh
  and destroy of existing stacks.
* One provider process serves every dynamic resource on up to 4 threads and shares one
  unpickled instance, so nothing per-call is stored on ``self``.
* The SDK's server reports an exception as its full traceback; ours (a scrubbed
  ``BrmsError``/``ConfigError``, raised ``from None``) as their one line, because importing
  this module installs ``server_errors`` in that server.
* ``configure`` runs before the first ``check``, with the provider's config (for the default
  provider: the whole stack config), so ``check`` can refuse unknown keys and a missing URL
  or PAT at preview, before any request.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Callable, Iterator, Optional

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

from . import operations, server_errors
from .config import ENV_RETRY_REDEPLOY
from .config_keys import unknown_key_problems
from .deferral import flag_set, redeploy_deferred
from .deploys import refused
from .errors import BrmsError, ConfigError
from .fields import INPUT_NAMES, default_of, echo, is_unknown
from .instances import ProviderConfig, UnconfiguredBrms
from .inputs import InputError, TokenInputs, check_news, validate_inputs
from .plan import plan, redeploy_pending
from .process import ProcessState, Session, process_state
from .schedule import next_rotation_at, utc_now

PROVIDER_KEY = "__provider"

log = logging.getLogger("gorules_tokens")

server_errors.install()

# refresh and destroy run without the program, so the engine hands the provider the config
# saved in state by the last `pulumi up` (the PAT included), not the current stack config.
SAVED_PAT_HINT = (
    "refresh and destroy use the PAT saved in the stack's state by the last `pulumi up`, not the current "
    "stack config. If you have changed the PAT since (gorules:token, gorules:instances.<name>.token), "
    "run `pulumi up` first, or repeat with "
    "`--run-program` (`pulumi refresh --run-program`, `pulumi destroy --run-program`) so the current "
    "config is used; otherwise check that the PAT grants the environments permissions on this project"
)


@contextmanager
def _with_saved_credentials() -> Iterator[None]:
    """Refusals (401/403) during refresh/destroy say which PAT was used and how to fix it."""
    try:
        yield
    except BrmsError as exc:
        if exc.status in (401, 403):
            raise exc.copy(hint=SAVED_PAT_HINT) from None
        raise


def _ids_from(id_: str, props: dict[str, Any]) -> tuple[str, str]:
    """Project/environment ids from the ``p/e`` resource id (outputs of older states also hold them)."""
    project_id, environment_id = props.get("project_id"), props.get("environment_id")
    if not (project_id and environment_id) and id_ and "/" in id_:
        project_id, environment_id = id_.split("/", 1)
    if not (project_id and environment_id):
        raise ConfigError(f"resource {id_!r} has no project_id/environment_id in its state")
    return str(project_id), str(environment_id)


def _stored(props: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in props.items() if k != PROVIDER_KEY}


def _note_refusal(outs: dict[str, Any], session: Session) -> None:
    """Which PAT a refused redeploy used (its fingerprint), so the plan can tell a changed PAT."""
    if refused(outs.get("redeploy_status")):
        outs["redeploy_pat_fingerprint"] = session.client.pat_fingerprint
    else:
        outs.pop("redeploy_pat_fingerprint", None)


class EnvironmentTokenProvider(ResourceProvider):
    """CRUD for one GoRules environment access token (see ``provider/README.md``)."""

    # The pickle holds no secret (``__reduce__``), so ``__provider`` is stored in plain text,
    # not encrypted: about 100 bytes instead of 270, twice per token (inputs and outputs), at
    # every checkpoint, and no decryption per token per operation (issue 18). The SDK would
    # still make it a secret if a secret Output were ever captured in the pickle.
    serialize_as_secret_always = False

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
        # None until configure(): a provider used without the engine (unit use) checks inputs only.
        self._config_keys: Optional[tuple[str, ...]] = None

    # Pickling: the class, by reference, and nothing else. The config (PAT!), clients, caches
    # and clock are process-local; unpickling calls the class. No state at all, not even a
    # dict: the SDK 3.272 wraps pickle's dict writer once more at every `serialize_provider`
    # and never unwraps it, so pickling a dict in the k-th resource of a program recursed k
    # levels deep: quadratic, and a RecursionError near the 960th token (issue 18).
    def __reduce__(self) -> tuple[type, tuple[()]]:
        return (EnvironmentTokenProvider, ())

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Pickles of 0.1.0 and 0.2.0 carry ``{"v": 1}``: rebuilt the same way."""
        self.__init__()  # type: ignore[misc]

    def configure(self, req: ConfigureRequest) -> None:
        """Remember stack config; validated lazily on first BRMS call."""
        self._config = ProviderConfig.from_config(req.config.get)
        raw = getattr(req.config, "_props", None)  # the SDK's Config has no public key listing
        self._config_keys = tuple(raw) if isinstance(raw, dict) else ()

    # -- plumbing ----------------------------------------------------------

    def _now(self) -> datetime:
        return self._clock() if self._clock is not None else utc_now()

    def _process(self) -> ProcessState:
        return self._state if self._state is not None else process_state()

    def _session(self, props: dict[str, Any]) -> Session:
        """A session on the BRMS ``props`` (inputs, or stored outputs) live on, with that
        BRMS's own PAT; clients, list cache and outage memory are keyed by its URL."""
        return self._process().session(self._config.resolve(props))

    @staticmethod
    def _inputs(props: dict[str, Any]) -> TokenInputs:
        try:
            return validate_inputs({k: v for k, v in props.items() if k in INPUT_NAMES})
        except InputError as exc:
            raise ConfigError(f"invalid EnvironmentToken inputs: {exc}") from None

    # -- the engine's calls ------------------------------------------------

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        """Validate and default every input; no network, unknowns pass through."""
        inputs, failures = check_news(_stored(news))
        if not failures and not any(is_unknown(inputs.get(k)) for k in ("instance", "api_url")):
            # A BRMS that is not configured gets no PAT: refused now, before any request.
            problem = self._config.target_problem(inputs)
            failures = [problem] if problem else []
        if not failures:
            failures = self._config_problems(inputs)
        if failures:
            return CheckResult(news, [CheckFailure(key, reason) for key, reason in failures])
        if PROVIDER_KEY in news:
            inputs[PROVIDER_KEY] = news[PROVIDER_KEY]
        return CheckResult(inputs, [])

    def _config_problems(self, inputs: dict[str, Any]) -> list[tuple[str, str]]:
        """Unknown ``gorules:``/``gorules-tokens:`` keys, and a BRMS without URL or PAT, as
        resource-level failures (no property): preview fails with one line each, no request."""
        if self._config_keys is None:
            return []
        problems = [("", p) for p in unknown_key_problems(self._config_keys)]
        configured = (self._config.api_url, self._config.token, self._config.instances)
        if problems or any(is_unknown(v) for v in configured) or is_unknown(inputs.get("instance")):
            return problems  # a provider configured from outputs not yet known: the up checks it
        try:
            self._config.resolve(inputs)
        except ConfigError as exc:
            return [("", exc.message)]
        return []

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        """Replace/update/no-op from the plan; no network.

        ``__provider`` is ignored: it is a by-reference pickle, identical across runs, and a
        stale copy in the outputs unpickles to the same class.
        """
        project_id, environment_id = _ids_from(_id, olds)
        # The engine diffs every existing resource before it creates anything for it.
        self._process().ledger.note_existing(project_id, environment_id, olds.get("environment_type"))
        old = {**olds, "project_id": project_id, "environment_id": environment_id}
        # A run that defers its redeploys retries none either: the Agents switch in the next plain `up`.
        defer = redeploy_deferred()
        retry_refused = not defer and refused(olds.get("redeploy_status")) and self._retry_refused(old, environment_id)
        result = plan(old, news, brms_url=self._config.brms_url_for, now=self._now(), retry_refused=retry_refused,
                      defer_redeploy=defer)
        if result.replaces:
            return DiffResult(changes=True, replaces=sorted(result.replaces), delete_before_replace=False)
        return DiffResult(changes=bool(result.updates), replaces=[])

    def _retry_refused(self, olds: dict[str, Any], environment_id: str) -> bool:
        """Whether a redeploy the BRMS refused is worth another try: the PAT changed since (its
        fingerprint differs from the refused one's) or the user asked. Warns either way, in
        every preview and ``up``, since Agents reject the token until a release is deployed."""
        status = olds.get("redeploy_status")
        try:
            credentials = self._config.resolve(olds)
            current, source = credentials.pat_fingerprint(), credentials.pat_source
        except ConfigError:
            current, source = None, "configured for this BRMS"
        asked = flag_set(ENV_RETRY_REDEPLOY)
        retry = asked or (current is not None and current != olds.get("redeploy_pat_fingerprint"))
        permission = "`releases:deploy`" if status == "failed:403" else "what the deploy needs"
        log.warning(
            "warning: environment %s: the BRMS refused the redeploy after its last rotation (redeploy_status %s); "
            "Agents reject its token until a release is deployed. Grant the PAT (%s) %s. %s", environment_id,
            status, source, permission,
            "This run retries it." if retry else (
                f"It is retried once the PAT or this resource's inputs change, or with {ENV_RETRY_REDEPLOY}=1 "
                "for one `pulumi up`; not on every `up`."),
        )
        return retry

    def create(self, props: dict[str, Any]) -> CreateResult:
        """Regenerate (or adopt) the token and return the complete outputs.

        With ``deferral.DEFER_REDEPLOY_ENV`` set for the run, a ``deployment`` environment is rotated
        without its redeploy (``redeploy_status`` ``deferred``), so its Agents keep the release
        that lists the previous token until a later ``up`` without it deploys.

        Adoption is one-shot: a create for an environment whose resource was diffed in this
        run is a replacement (keepers, ``rotate_after``, another BRMS) and regenerates. The
        engine does not diff a ``--replace`` target, so that one adopts again; the old
        resource's delete then leaves the token alone (``operations.revoke``).
        """
        inputs = self._inputs(props)
        session = self._session(props)
        adopt = inputs.adopt_existing and not session.ledger.has_existing(inputs.project_id, inputs.environment_id)
        outs = echo(inputs.compact())
        if adopt:
            outs.update(operations.adopt(session, inputs, self._now()))
        else:
            outs.update(operations.mint(session, inputs, self._now(), defer_redeploy=redeploy_deferred()))
        outs["brms_url"] = session.base_url
        _note_refusal(outs, session)
        return CreateResult(f"{inputs.project_id}/{inputs.environment_id}", outs)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        """Non-replacing change: keep the token and every output, refresh echoes; retry a
        redeploy that was skipped, failed or deferred when ``redeploy`` is (now) enabled and
        the run does not defer its redeploys (``deferral.DEFER_REDEPLOY_ENV``)."""
        inputs = self._inputs(news)
        # Echoes are rebuilt from the new inputs, so one reset to its default disappears.
        outs = {k: v for k, v in _stored(olds).items() if k not in INPUT_NAMES}
        outs.update(echo(inputs.compact()))
        # States of earlier releases learn where their token lives (the plan found no move).
        outs["brms_url"] = olds.get("brms_url") or self._config.brms_url_for(news)
        rotated_at = outs.get("rotated_at")
        try:
            outs["next_rotation_at"] = next_rotation_at(rotated_at, inputs.rotate_after) if rotated_at else None
        except ValueError:
            outs["next_rotation_at"] = None
        if inputs.redeploy and redeploy_pending(olds.get("redeploy_status")) and not redeploy_deferred():
            session = self._session(outs)
            outs["redeploy_status"] = operations.retry_redeploy(session, inputs)
            _note_refusal(outs, session)
        return UpdateResult(outs)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        """Refresh: leave the state when the BRMS says the environment is gone, else adopt
        what it lists (see ``operations.refreshed``)."""
        project_id, environment_id = _ids_from(id_, props)
        session = self._session(props)  # the BRMS the token was minted on, with that BRMS's PAT
        with _with_saved_credentials():
            item = operations.observe(session, project_id, environment_id, cached=True)
        if item is None:
            return ReadResult(None, {})
        outs = operations.refreshed(_stored(props), item, self._now())
        outs["brms_url"] = session.base_url  # states of earlier releases learn where it lives
        return ReadResult(id_, outs)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        """No API call unless ``revoke_on_delete``; never kill a successor."""
        if not props.get("revoke_on_delete"):
            return
        project_id, environment_id = _ids_from(id_, props)
        try:
            session = self._session(props)
        except UnconfiguredBrms:
            # E.g. the delete half of a move after the instance's URL changed: no PAT may go
            # there any more, and the new token must not wait for the old BRMS. Any other
            # config problem fails the delete, so a token to revoke is never silently kept.
            log.warning(
                "warning: not revoking the token of environment %s: it lives on %s, which is no longer "
                "configured (gorules:apiUrl, gorules:instances)", environment_id, props.get("brms_url"),
            )
            return
        with _with_saved_credentials():
            operations.revoke(
                session, project_id, environment_id, _stored(props),
                redeploy_enabled=bool(default_of(props, "redeploy")),
            )

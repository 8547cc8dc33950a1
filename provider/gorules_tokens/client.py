"""Wire client for the GoRules BRMS management API.

One pooled ``httpx.Client`` per base URL per process (created lazily and shared
by the provider's worker threads) keeps TLS handshakes off the hot path of a
refresh over many tokens. Redirects are not followed so the PAT can never be
forwarded to another host. Every failure becomes a scrubbed :class:`BrmsError`
raised ``from None``, so neither httpx request objects nor chained tracebacks
reach the CLI output.

A little over 300 lines on purpose: every endpoint goes through the one ``_call`` path,
where retries, outage memory, lost-answer notes and the reading of error bodies (the
BRMS's own JSON error or not) meet; splitting it would scatter that one decision.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Optional
from urllib.parse import quote, urlsplit

import httpx
from pydantic import ValidationError

from .config import Credentials, HttpSettings, _is_loopback
from .errors import BrmsError, register_secret, scrub
from .outage import OutageRegistry
from .models import DeployOutcome, Environment, EnvironmentListItem, parse_deploy_outcome
from .retry import RETRYABLE_STATUSES, RetryableStatus, RetryPolicy, is_ambiguous, is_transient, parse_retry_after

USER_AGENT = "gorules-tokens-pulumi-provider/0.2"
_MAX_MESSAGE = 500

OP_LIST = "list-environments"
OP_REGENERATE = "regenerate-token"
OP_DEPLOY = "deploy-release"
OP_GET_PAT = "get-personal-access-token"
OP_LIST_PATS = "list-personal-access-tokens"

_AUTH_HINT = (
    "Check the personal access token ({source}) and that it grants the environments permissions "
    "on this project"
)
# GoRules documents no permission per endpoint. Its auth page puts deploying under
# "Environments", the PAT enum has `releases:deploy`: name every candidate.
_DEPLOY_FORBIDDEN_HINT = (
    "The personal access token ({source}) may lack the permission to deploy releases on this "
    "project: grant `releases:deploy` (and, since GoRules does not document which permission "
    "deploy checks, `environments:manage` if that is not enough)"
)


_PAT_REFUSED_HINT = (
    "The BRMS refuses the personal access token ({source}): it may have expired or been revoked; "
    "create a new one in the BRMS (Profile, Personal access token) and configure it"
)


def _hint(operation: str, status: int, pat_source: str) -> Optional[str]:
    """``pat_source`` names the setting the PAT came from (the default's or an instance's)."""
    if operation == OP_DEPLOY and status == 403:
        return _DEPLOY_FORBIDDEN_HINT.format(source=pat_source)
    if operation in (OP_GET_PAT, OP_LIST_PATS):
        return _PAT_REFUSED_HINT.format(source=pat_source) if status == 401 else None
    return _AUTH_HINT.format(source=pat_source) if status in (401, 403) else None


class HttpPool:
    """Process-wide registry of ``httpx.Client`` instances keyed by base URL."""

    def __init__(
        self,
        settings: Optional[HttpSettings] = None,
        transport: Optional[httpx.BaseTransport] = None,
    ) -> None:
        self._lock = threading.Lock()
        self._clients: dict[str, httpx.Client] = {}
        self._settings = settings
        self._transport = transport  # tests inject an in-memory BRMS here

    @property
    def settings(self) -> HttpSettings:
        if self._settings is None:
            self._settings = HttpSettings.from_env()
        return self._settings

    def get(self, base_url: str) -> httpx.Client:
        with self._lock:
            client = self._clients.get(base_url)
            if client is None or client.is_closed:
                s = self.settings
                parts = urlsplit(base_url)
                host = parts.hostname or ""
                client = httpx.Client(
                    timeout=httpx.Timeout(s.read_timeout, connect=s.connect_timeout),
                    follow_redirects=False,
                    headers={"Accept": "application/json", "User-Agent": USER_AGENT},
                    limits=httpx.Limits(max_connections=8, max_keepalive_connections=4),
                    # A loopback BRMS must never be reached through a proxy.
                    trust_env=not _is_loopback(host),
                    # Plain http is only accepted for loopback and redirects are never followed,
                    # so such a client never speaks TLS: skip loading the CA bundle (tens of ms).
                    verify=parts.scheme == "https",
                    transport=self._transport,
                )
                self._clients[base_url] = client
            return client

    def close(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()


def _brms_message(response: httpx.Response) -> tuple[Optional[str], str, bool]:
    """(error phrase, message, shaped) from a ``{statusCode, error, message}`` body.

    ``shaped`` says the body is the BRMS's own JSON error for this status. Only such an
    answer may mean "gone"; an ingress's HTML page or a proxy's bare 404 never does.
    """
    try:
        body = _decoded(response)
    except ValueError:
        kind = response.headers.get("content-type", "").split(";")[0].strip() or "no content type"
        text = " ".join(response.text.split())[:120]
        return None, scrub(f"not a BRMS answer ({kind}){': ' + text if text else ''}"), False
    if isinstance(body, dict):
        error = body.get("error") if isinstance(body.get("error"), str) else None
        message = body.get("message")
        shaped = body.get("statusCode") == response.status_code and isinstance(message, (str, list))
        if isinstance(message, list):
            message = "; ".join(str(m) for m in message)
        elif message is None:
            message = body.get("code") or ""
        return error, scrub(str(message)[:_MAX_MESSAGE]), shaped
    return None, "", False


def _decoded(response: httpx.Response) -> Any:
    """The JSON body (ValueError if it is none), with every ``accessToken`` (and a PAT
    answer's ``token``, which GoRules sends on creation only) in it registered for scrubbing
    first, wherever it sits: an error body that echoes a freshly minted token (in a field and
    in its message) must not print it."""
    body = response.json()
    _register_tokens(body)
    return body


_SECRET_KEYS = frozenset({"accessToken", "token"})


def _register_tokens(value: Any) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if key in _SECRET_KEYS and isinstance(item, str):
                register_secret(item)
            else:
                _register_tokens(item)
    elif isinstance(value, list):
        for item in value:
            _register_tokens(item)


def _transport_message(exc: httpx.HTTPError) -> str:
    detail = str(exc) or exc.__class__.__name__
    return scrub(f"{exc.__class__.__name__}: {detail}"[:_MAX_MESSAGE])


class BrmsClient:
    """Typed calls to the few BRMS endpoints the provider needs."""

    def __init__(
        self,
        http: httpx.Client,
        credentials: Credentials,
        policy: RetryPolicy,
        settings: HttpSettings,
        on_mutation: Optional[Callable[[str], None]] = None,
        outages: Optional[OutageRegistry] = None,
    ) -> None:
        self._outages = outages
        self._http = http
        self._credentials = credentials
        self._policy = policy
        self._settings = settings
        self._on_mutation = on_mutation

    @property
    def base_url(self) -> str:
        return self._credentials.base_url

    @property
    def pat_fingerprint(self) -> str:
        return self._credentials.pat_fingerprint()

    @property
    def pat_source(self) -> str:
        """Where the PAT is configured (names, never the value), for hints."""
        return self._credentials.pat_source

    # -- endpoints ---------------------------------------------------------

    def list_environments(self, project_id: str, *, best_effort: bool = False) -> list[EnvironmentListItem]:
        """``best_effort``: one attempt, not remembered as an outage (a read that only helps,
        such as the previous token before a regenerate, must not spend the regenerate's retries)."""
        path = f"/api/projects/{quote(project_id, safe='')}/environments"
        body = self._call(OP_LIST, "GET", path, project_id=project_id, environment_id=None, idempotent=True,
                          best_effort=best_effort)
        if not isinstance(body, list):
            raise BrmsError(OP_LIST, message="unexpected response: expected a JSON array", project_id=project_id)
        items: list[EnvironmentListItem] = []
        for raw in body:
            try:
                items.append(EnvironmentListItem.model_validate(raw))
            except ValidationError as exc:
                raise BrmsError(OP_LIST, message=_shape_error(exc), project_id=project_id) from None
        return items

    def regenerate_token(
        self, project_id: str, environment_id: str, *, ambiguous: Optional[list[str]] = None
    ) -> Environment:
        """Mint a new token. ``ambiguous`` collects the failed attempts that may have been
        applied (a lost answer): the caller then confirms which token is live."""
        path = (
            f"/api/projects/{quote(project_id, safe='')}/environments/"
            f"{quote(environment_id, safe='')}/regenerate-token"
        )
        try:
            body = self._call(
                OP_REGENERATE, "POST", path, project_id=project_id, environment_id=environment_id,
                idempotent=True, ambiguous=ambiguous,
            )
        finally:
            # Even a failed attempt may have been applied server-side.
            self._mutated(project_id)
        try:
            return Environment.model_validate(body)
        except ValidationError as exc:
            raise BrmsError(
                OP_REGENERATE, message=_shape_error(exc), project_id=project_id, environment_id=environment_id
            ) from None

    def deploy_release(self, project_id: str, release_id: str, environment_id: str, comment: str) -> DeployOutcome:
        """Any 2xx is classified, never rejected for its body: GoRules documents none for deploy."""
        path = f"/api/projects/{quote(project_id, safe='')}/releases/deploy"
        payload = {"releaseId": release_id, "environmentId": environment_id, "comment": comment}
        try:
            response = self._call(
                OP_DEPLOY, "POST", path, project_id=project_id, environment_id=environment_id,
                json=payload, idempotent=False, decode=False,
            )
        finally:
            self._mutated(project_id)
        return parse_deploy_outcome(_lenient_body(response), response.status_code)

    def get_personal_access_token(self, pat_id: str) -> Any:
        """``GET /api/personal-access-tokens/{patId}``: the decoded body as the BRMS sent it
        (GoRules documents an object with ``expiresAt``; ``pat_expiry`` reads it leniently)."""
        path = f"/api/personal-access-tokens/{quote(pat_id, safe='')}"
        return self._call(OP_GET_PAT, "GET", path, project_id=None, environment_id=None, idempotent=True)

    def list_personal_access_tokens(self) -> Any:
        """``GET /api/personal-access-tokens``: the authenticated user's PATs, decoded as sent."""
        return self._call(OP_LIST_PATS, "GET", "/api/personal-access-tokens", project_id=None,
                          environment_id=None, idempotent=True)

    # -- plumbing ----------------------------------------------------------

    def _mutated(self, project_id: str) -> None:
        if self._on_mutation is not None:
            self._on_mutation(project_id)

    def _call(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        project_id: Optional[str],
        environment_id: Optional[str],
        idempotent: bool,
        json: Any = None,
        decode: bool = True,
        ambiguous: Optional[list[str]] = None,
        best_effort: bool = False,
    ) -> Any:
        """The decoded JSON of a 2xx answer (the response itself with ``decode=False``)."""
        base_url = self._credentials.base_url
        url = base_url + path
        start = time.monotonic()
        attempts = 0
        known_outage = self._outages.down_reason(base_url) if self._outages is not None else None
        if known_outage is not None:
            raise BrmsError(
                operation,
                message=f"BRMS unreachable: {known_outage}; not retried, an earlier call in this run "
                        "already exhausted its retries against this URL",
                project_id=project_id, environment_id=environment_id, url=url,
            )

        def once() -> httpx.Response:
            nonlocal attempts
            attempts += 1
            remaining = max(1.0, self._settings.deadline - (time.monotonic() - start))
            timeout = httpx.Timeout(
                min(self._settings.read_timeout, remaining),
                connect=min(self._settings.connect_timeout, remaining),
            )
            response = self._http.request(
                method,
                url,
                json=json,
                timeout=timeout,
                headers={"Authorization": "Bearer " + self._credentials.pat},
            )
            if response.status_code in RETRYABLE_STATUSES:
                error, message, _ = _brms_message(response)
                raise RetryableStatus(
                    response.status_code, parse_retry_after(response.headers.get("Retry-After")), error, message
                )
            return response

        def failed_attempt(exc: BaseException) -> None:
            if ambiguous is not None and is_ambiguous(exc):
                ambiguous.append(_transport_message(exc) if isinstance(exc, httpx.HTTPError) else str(exc))

        try:
            if best_effort:
                response = once()
            else:
                for attempt in self._policy.retrying(idempotent):
                    with attempt:
                        try:
                            response = once()
                        except (RetryableStatus, httpx.HTTPError) as exc:
                            failed_attempt(exc)
                            raise
        except RetryableStatus as exc:
            message = _with_attempts(exc.message, attempts)
            if exc.status >= 500 and is_transient(exc, idempotent) and not best_effort:
                # Retries exhausted: an outage. One answer to a call that is never retried
                # (a deploy) says nothing about the next call, so it is not remembered.
                self._note_outage(base_url, f"HTTP {exc.status} {message}")
            raise BrmsError(
                operation, status=exc.status, error=exc.error, message=message,
                project_id=project_id, environment_id=environment_id, url=url,
            ) from None
        except httpx.HTTPError as exc:
            message = "BRMS unreachable: " + _with_attempts(_transport_message(exc), attempts)
            if is_transient(exc, idempotent) and not best_effort:
                self._note_outage(base_url, _transport_message(exc))
            raise BrmsError(
                operation, message=message, project_id=project_id, environment_id=environment_id, url=url,
            ) from None
        if self._outages is not None:
            self._outages.mark_up(base_url)

        status = response.status_code
        if 300 <= status < 400:
            raise BrmsError(
                operation, status=status,
                message="unexpected redirect (not followed, so the PAT is never sent elsewhere); "
                        "check the BRMS URL",
                project_id=project_id, environment_id=environment_id, url=url,
            )
        if status >= 400:
            error, message, shaped = _brms_message(response)
            hint = _hint(operation, status, self._credentials.pat_source)
            raise BrmsError(
                operation, status=status, error=error, message=message,
                project_id=project_id, environment_id=environment_id, hint=hint, url=url, brms_answer=shaped,
            )
        if not decode:
            return response
        try:
            return _decoded(response)
        except ValueError:
            raise BrmsError(
                operation, status=status, message="response is not valid JSON",
                project_id=project_id, environment_id=environment_id, url=url,
            ) from None

    def _note_outage(self, base_url: str, reason: str) -> None:
        if self._outages is not None:
            self._outages.mark_down(base_url, reason)


def _lenient_body(response: httpx.Response) -> Any:
    """Decoded JSON, the text when it is not JSON, or None when the body is empty."""
    if not response.content.strip():
        return None
    try:
        return _decoded(response)
    except ValueError:
        return response.text


def _with_attempts(message: str, attempts: int) -> str:
    suffix = f"gave up after {attempts} attempt{'s' if attempts != 1 else ''}"
    return f"{message} ({suffix})" if message else suffix


def _shape_error(exc: ValidationError) -> str:
    """Describe a response-shape problem by field location only (never values)."""
    parts = []
    for err in exc.errors(include_input=False, include_url=False)[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()))
        parts.append(f"{loc}: {err.get('msg', 'invalid')}")
    return "unexpected response: " + "; ".join(parts)

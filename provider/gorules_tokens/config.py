"""The rules a BRMS URL and a PAT must meet, their config keys, and HTTP tuning.

Which URL and PAT a call uses (the default instance, ``gorules:apiUrl`` /
``gorules:token`` or ``GORULES_URL`` / ``GORULES_TOKEN``, and the named
``gorules:instances``) is decided in ``instances.py``, on top of these rules.
Credentials are resolved lazily, at the first call that talks to the BRMS, so
``check`` and ``diff`` (run during preview, possibly without credentials) never
fail for lack of them, and they are never stored on anything that gets pickled
into ``__provider``.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field
from typing import Mapping, Optional
from urllib.parse import urlsplit, urlunsplit

from .errors import ConfigError, register_secret
from .fingerprint import fingerprint

CONFIG_URL_KEY = "gorules:apiUrl"
CONFIG_TOKEN_KEY = "gorules:token"
ENV_URL = "GORULES_URL"
ENV_TOKEN = "GORULES_TOKEN"
ENV_HTTP_TIMEOUT = "GORULES_HTTP_TIMEOUT"
ENV_RETRY_ATTEMPTS = "GORULES_RETRY_ATTEMPTS"
ENV_RETRY_DEADLINE = "GORULES_RETRY_DEADLINE"
# Set for one `pulumi up` to retry redeploys the BRMS refused (failed:4xx) without a PAT change.
ENV_RETRY_REDEPLOY = "GORULES_RETRY_REDEPLOY"
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def normalize_base_url(url: str) -> str:
    """Validate a BRMS URL and return its root without trailing ``/`` or ``/api``.

    ``https://brms.example.com``, ``https://brms.example.com/`` and
    ``https://brms.example.com/api/`` all become ``https://brms.example.com``;
    request paths then always start with ``/api/``. Plain http is accepted only
    for loopback hosts, and user info is refused because it would travel in
    every request and end up in logs.
    """
    if not isinstance(url, str) or not url:
        raise ConfigError("BRMS URL must be a non-empty string")
    if url != url.strip() or any(c.isspace() for c in url):
        raise ConfigError("BRMS URL must not contain whitespace")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise ConfigError(f"BRMS URL is malformed: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ConfigError("BRMS URL must start with https:// (or http:// for a loopback host)")
    if not host:
        raise ConfigError("BRMS URL has no host")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise ConfigError("BRMS URL must not contain user info; put the PAT in gorules:token / GORULES_TOKEN")
    if parts.query or parts.fragment:
        raise ConfigError("BRMS URL must not contain a query string or fragment")
    host = host.rstrip(".")
    if not host:
        raise ConfigError("BRMS URL has no host")
    if scheme == "http" and not _is_loopback(host):
        raise ConfigError("BRMS URL must use https:// unless the host is loopback (localhost, 127.0.0.0/8, ::1)")
    path = re.sub(r"/{2,}", "/", parts.path).rstrip("/")
    if path.endswith("/api"):
        path = path[: -len("/api")]
    path = path.rstrip("/")
    return urlunsplit((scheme, _netloc(scheme, host, parts.port), path, "", ""))


def _netloc(scheme: str, host: str, port: Optional[int]) -> str:
    """One spelling per BRMS: lower-case host without the root's trailing dot, IDNA-encoded,
    and no port when it is the scheme's default (``:443`` on https, ``:80`` on http)."""
    host = host.rstrip(".")
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        pass  # not a name IDNA can encode (e.g. an IPv6 literal): keep it as written
    if ":" in host:
        host = f"[{host}]"
    return host if port is None or port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"


def clean_pat(raw: object, source: str) -> str:
    if not isinstance(raw, str):
        raise ConfigError(f"{source} must be a string")
    pat = raw.strip()  # tolerate the trailing newline of a secret file
    if not pat:
        raise ConfigError(f"{source} is empty")
    if not (pat.isascii() and pat.isprintable()) or any(c.isspace() for c in pat):
        # Checked here because httpx would otherwise fail while encoding the
        # header, with an error that may quote part of the value.
        raise ConfigError(f"{source} must be printable ASCII without whitespace")
    return pat


@dataclass(frozen=True)
class Credentials:
    """The resolved BRMS root URL and PAT (``repr`` hides the PAT)."""

    base_url: str
    pat: str = field(repr=False)
    # Where that PAT is configured (names, not values), so a refusal names the right setting.
    pat_source: str = "gorules:token / GORULES_TOKEN"

    def __post_init__(self) -> None:
        register_secret(self.pat)

    def pat_fingerprint(self) -> str:
        """Tells one PAT from another in state without storing it (``fingerprint``)."""
        return fingerprint(self.pat)


def _positive_float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, got {raw!r}") from None
    if not value > 0 or value != value or value == float("inf"):
        raise ConfigError(f"{name} must be a positive number of seconds, got {raw!r}")
    return value


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if value < 1:
        raise ConfigError(f"{name} must be at least 1, got {raw!r}")
    return value


@dataclass(frozen=True)
class HttpSettings:
    """Timeouts and retry bounds; defaults keep a full outage under 60 s."""

    connect_timeout: float = 5.0
    read_timeout: float = 15.0
    max_attempts: int = 5
    deadline: float = 45.0

    @classmethod
    def from_env(cls, environ: Optional[Mapping[str, str]] = None) -> "HttpSettings":
        """Read ``GORULES_HTTP_TIMEOUT`` (read timeout, s), ``GORULES_RETRY_ATTEMPTS``
        and ``GORULES_RETRY_DEADLINE`` (total retry budget, s)."""
        env = os.environ if environ is None else environ
        return cls(
            read_timeout=_positive_float(env, ENV_HTTP_TIMEOUT, cls.read_timeout),
            max_attempts=_positive_int(env, ENV_RETRY_ATTEMPTS, cls.max_attempts),
            deadline=_positive_float(env, ENV_RETRY_DEADLINE, cls.deadline),
        )

"""Which BRMS a token lives on, and which PAT may be sent there: the one resolution.

A stack has a *default instance* (``gorules:apiUrl`` + secret ``gorules:token``, else
``GORULES_URL`` / ``GORULES_TOKEN``) and any number of *named instances* in
``gorules:instances`` (name -> ``{apiUrl, token}``). Everything that needs to know where a
resource's BRMS is, or which PAT to send, asks :class:`ProviderConfig`:

    inputs (``instance`` / ``api_url``) or stored outputs (``brms_url``) -> normalised URL -> PAT

The PAT is looked up *by the URL*, never paired with one: a URL that is not the default's
or a configured instance's has no PAT, so a PAT cannot travel to a BRMS it does not belong
to (an ``api_url`` computed from another output, say). For that lookup to be a function,
no two instances may share a URL.

How the value arrives (measured on the pinned engine v3.274.1): the dynamic provider's
``configure()`` receives ``gorules:instances`` as one JSON *string* with the secrets
already decrypted; the program's ``pulumi.Config("gorules").get_object("instances")``
returns a dict. Both forms are accepted. The engine keeps the whole map encrypted in the
default provider's state as soon as one leaf is secret.

A little over 300 lines on purpose: parsing the instances (``Instances``) and answering
questions about them (``ProviderConfig``) are one rule set, the PAT-by-URL rule, and keeping
them together is what makes it impossible to pair a PAT with a URL elsewhere.

For CI without stack config: ``GORULES_INSTANCES`` holds the same map as JSON (used when
``gorules:instances`` is not set), and ``GORULES_TOKEN_<NAME>`` the PAT of instance NAME
(upper-cased, every character other than a letter or digit as ``_``) when the map has none.

An instance may name its PAT's id (``patId``; ``gorules:patId`` / ``GORULES_PAT_ID`` for the
default), which is not a secret: ``pat_expiry`` then reads that PAT's own expiry.

Validation is lazy, as for the default instance: ``check`` and ``diff`` need URLs only, and
an instance without a PAT fails at the first call that sends one, naming its config key.
Messages never repeat a PAT or the raw map (it may hold PATs); they name keys and URLs.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional

from .config import (
    CONFIG_TOKEN_KEY,
    CONFIG_URL_KEY,
    ENV_TOKEN,
    ENV_URL,
    Credentials,
    clean_pat,
    normalize_base_url,
)
from .errors import ConfigError

INSTANCES_KEY = "gorules:instances"
ENV_INSTANCES = "GORULES_INSTANCES"
ENV_INSTANCE_TOKEN_PREFIX = "GORULES_TOKEN_"
CONFIG_PAT_ID_KEY = "gorules:patId"
ENV_PAT_ID = "GORULES_PAT_ID"
# A PAT's id goes into a URL path: GoRules' are UUIDs; any path-safe id is accepted.
PAT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
PAT_ID_RULE = "must be the PAT's id (a UUID in GoRules: letters, digits, '-' or '_', at most 128)"
# The alphabet of stack-config entry names (they become URNs), so both read the same.
INSTANCE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
NAME_RULE = "must be 1-63 letters, digits, '_', '.' or '-', starting with a letter or digit"
_INSTANCE_KEYS = ("apiUrl", "token", "patId")


def env_token_var(name: str) -> str:
    """The environment variable holding instance ``name``'s PAT in CI."""
    return ENV_INSTANCE_TOKEN_PREFIX + re.sub(r"[^A-Za-z0-9]", "_", name).upper()


@dataclass(frozen=True)
class Instance:
    """One BRMS: its normalised URL and where its PAT comes from (``repr`` hides the PAT)."""

    name: Optional[str]  # None: the default instance
    url: Optional[str]  # None only for a default instance without a URL
    url_key: str
    token_key: str
    token_env: str
    token: Optional[str] = field(default=None, repr=False)
    pat_id: Optional[str] = None  # the PAT's id in the BRMS (not a secret), when configured
    pat_id_key: str = CONFIG_PAT_ID_KEY

    @property
    def label(self) -> str:
        return "the default instance" if self.name is None else f"instance {self.name!r}"

    def credentials(self, environ: Mapping[str, str]) -> Credentials:
        """URL and PAT; the PAT is validated here, at the first call that needs it."""
        if self.url is None:
            raise ConfigError(
                f"no BRMS URL configured: set stack config '{CONFIG_URL_KEY}', environment variable "
                f"{ENV_URL}, or name a configured instance ('instance', {INSTANCES_KEY})"
            )
        if self.token:
            pat = clean_pat(self.token, self.token_key)
        elif environ.get(self.token_env):
            pat = clean_pat(environ[self.token_env], self.token_env)
        else:
            raise ConfigError(
                f"no GoRules personal access token configured for {self.label} ({self.url}): run "
                f"'pulumi config set --secret {'--path ' if self.name else ''}{self.token_key} <PAT>' "
                f"or set {self.token_env}"
            )
        return Credentials(base_url=self.url, pat=pat, pat_source=f"{self.token_key} / {self.token_env}")


def _load_map(raw: Any, source: str) -> dict[str, Any]:
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            # The text may hold PATs: say what is wrong, never quote it.
            raise ConfigError(f"{source}: must be a map of instance name -> {{apiUrl, token}} (invalid JSON)") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: must be a map of instance name -> {{apiUrl, token}}")
    return raw


def _parse_instance(name: Any, spec: Any, source: str) -> Instance:
    if not isinstance(name, str) or not INSTANCE_NAME.fullmatch(name):
        shown = repr(name)[:70] if isinstance(name, str) else "a non-string name"
        raise ConfigError(f"{source}: instance name {shown} {NAME_RULE}")
    key = f"{source}.{name}"
    if not isinstance(spec, dict):
        raise ConfigError(f"{key}: must be an object with apiUrl and token")
    unknown = sorted(str(k)[:40] for k in spec if k not in _INSTANCE_KEYS)
    if unknown:
        raise ConfigError(f"{key}: unknown setting(s) {', '.join(unknown)} (allowed: {', '.join(_INSTANCE_KEYS)})")
    url = spec.get("apiUrl")
    if url is None:
        raise ConfigError(f"{key}.apiUrl is required")
    try:
        normalised = normalize_base_url(url)
    except ConfigError as exc:
        raise ConfigError(f"{key}.apiUrl: {exc.message}") from None
    token = spec.get("token")
    if token is not None and not isinstance(token, str):
        raise ConfigError(f"{key}.token must be a string")
    pat_id_key = f"{key}.patId"
    return Instance(name=name, url=normalised, url_key=f"{key}.apiUrl", token_key=f"{INSTANCES_KEY}.{name}.token",
                    token_env=env_token_var(name), token=token or None,
                    pat_id=_pat_id(spec.get("patId"), pat_id_key), pat_id_key=pat_id_key)


def _pat_id(raw: Any, key: str) -> Optional[str]:
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str) or not PAT_ID.fullmatch(raw):
        raise ConfigError(f"{key}: {PAT_ID_RULE}")
    return raw


@dataclass(frozen=True)
class Instances:
    """The default instance and the named ones, with the URL -> instance index."""

    default: Instance
    named: Mapping[str, Instance]

    def by_url(self, url: Optional[str]) -> Optional[Instance]:
        if url is None:
            return None
        if self.default.url == url:
            return self.default
        return next((i for i in self.named.values() if i.url == url), None)

    def describe_known(self) -> str:
        names = ", ".join(sorted(self.named)) or "none"
        return f"configured instances: {names} ({INSTANCES_KEY})"

    def url_for(self, props: Mapping[str, Any]) -> Optional[str]:
        """The normalised URL the inputs name; ConfigError naming the field when they name
        no configured BRMS. None: the default instance, which has no URL configured."""
        name, api_url = props.get("instance"), props.get("api_url")
        target = self.default
        if name is not None:
            target = self.named.get(name)
            if target is None:
                raise ConfigError(f"instance: unknown instance {str(name)[:70]!r}; {self.describe_known()}")
        if api_url:
            try:
                url = normalize_base_url(api_url)
            except ConfigError as exc:
                raise ConfigError(f"api_url: {exc.message}") from None
            if name is not None and url != target.url:
                raise ConfigError(f"api_url: {url} is not the URL of instance {name!r} ({target.url}); "
                                  "set only 'instance'")
            if self.by_url(url) is None:
                raise ConfigError(
                    f"api_url: {url} is not the URL of the default instance ({CONFIG_URL_KEY}) nor of any "
                    f"configured instance ({INSTANCES_KEY}.<name>.apiUrl), so no PAT may be sent to it; "
                    f"configure that BRMS as an instance and set 'instance' instead"
                )
            return url
        return target.url


def parse_instances(
    api_url: Optional[str],
    token: Optional[str],
    raw_instances: Any,
    environ: Optional[Mapping[str, str]] = None,
    pat_id: Optional[str] = None,
) -> Instances:
    """Build the instances from stack config values (else the environment); ConfigError
    naming the key of the first problem. PATs are kept raw here and validated when used.
    ``pat_id``: ``gorules:patId`` (else ``GORULES_PAT_ID``), the default PAT's id."""
    env = os.environ if environ is None else environ
    url_key, raw_url = (CONFIG_URL_KEY, api_url) if api_url else (ENV_URL, env.get(ENV_URL))
    default_url = None
    if raw_url:
        try:
            default_url = normalize_base_url(raw_url)
        except ConfigError as exc:
            raise ConfigError(f"{url_key}: {exc.message}") from None
    if pat_id:
        pat_id_key, raw_pat_id = CONFIG_PAT_ID_KEY, pat_id
    elif env.get(ENV_PAT_ID):
        pat_id_key, raw_pat_id = ENV_PAT_ID, env[ENV_PAT_ID]
    else:
        pat_id_key, raw_pat_id = f"{CONFIG_PAT_ID_KEY} / {ENV_PAT_ID}", None  # where to set it
    default = Instance(name=None, url=default_url, url_key=url_key, token_key=CONFIG_TOKEN_KEY,
                       token_env=ENV_TOKEN, token=token or None,
                       pat_id=_pat_id(raw_pat_id, pat_id_key), pat_id_key=pat_id_key)

    source, raw = INSTANCES_KEY, raw_instances
    if raw is None and env.get(ENV_INSTANCES):
        source, raw = ENV_INSTANCES, env[ENV_INSTANCES]
    named: dict[str, Instance] = {}
    if raw is not None:
        for name, spec in _load_map(raw, source).items():
            named[name] = _parse_instance(name, spec, source)
    _refuse_shared(default, named)
    return Instances(default=default, named=named)


def _refuse_shared(default: Instance, named: Mapping[str, Instance]) -> None:
    """One URL, one instance (the PAT is found by URL); one env variable, one instance."""
    owners: dict[str, Instance] = {default.url: default} if default.url else {}
    env_owners: dict[str, str] = {}
    for instance in named.values():
        other = owners.setdefault(instance.url or "", instance)
        if other is not instance:
            raise ConfigError(f"{instance.url_key}: {instance.url} is already the URL of {other.label} "
                              f"({other.url_key}); each BRMS is configured once, with its own PAT")
        first = env_owners.setdefault(instance.token_env, instance.name or "")
        if first != instance.name:
            raise ConfigError(f"{INSTANCES_KEY}: instances {first!r} and {instance.name!r} would share the "
                              f"environment variable {instance.token_env}; rename one")


def _stored_url(props: Mapping[str, Any]) -> Optional[str]:
    """The stored ``brms_url`` in today's spelling (an earlier release kept ``:443``, say)."""
    stored = props.get("brms_url")
    if not stored:
        return None
    try:
        return normalize_base_url(str(stored))
    except ConfigError:
        return str(stored)


class UnconfiguredBrms(ConfigError):
    """The token lives on a BRMS the stack no longer configures: no PAT may be sent there."""


@dataclass
class ProviderConfig:
    """Raw values from ``configure()``; nothing here is validated eagerly."""

    api_url: Optional[str] = None
    token: Optional[str] = field(default=None, repr=False)
    instances: Any = field(default=None, repr=False)  # JSON text or dict; may hold PATs
    _parsed: Any = field(default=None, init=False, repr=False, compare=False)  # (env key, Instances | error)

    @classmethod
    def from_config(cls, get: Callable[[str], Any]) -> "ProviderConfig":
        return cls(api_url=get(CONFIG_URL_KEY), token=get(CONFIG_TOKEN_KEY), instances=get(INSTANCES_KEY))

    def registry(self, environ: Optional[Mapping[str, str]] = None) -> Instances:
        """The parsed instances. ``check``, ``diff`` and every CRUD call ask for them, so they
        are parsed once per config and per value of the two variables the parse reads."""
        env = os.environ if environ is None else environ
        key = (env.get(ENV_URL), env.get(ENV_INSTANCES))
        memo = self._parsed
        if memo is None or memo[0] != key:
            try:
                parsed: Any = parse_instances(self.api_url, self.token, self.instances, env)
            except ConfigError as exc:
                parsed = exc
            self._parsed = memo = (key, parsed)
        if isinstance(memo[1], ConfigError):
            raise ConfigError(memo[1].message) from None  # a fresh error for each caller
        return memo[1]

    def brms_url_for(self, props: Mapping[str, Any], environ: Optional[Mapping[str, str]] = None) -> Optional[str]:
        """The normalised URL of the BRMS a resource's inputs (or its stored outputs) point at.

        The stored ``brms_url`` (where the token was minted) wins; else ``instance`` /
        ``api_url`` / the default. None when that cannot be told (nothing configured, or an
        input ``check`` refuses). ``diff`` compares what the new inputs resolve to with
        what the token was minted on. Never raises and needs no PAT.
        """
        stored = _stored_url(props)
        if stored:
            return stored
        try:
            registry: Optional[Instances] = self.registry(environ)
        except ConfigError:
            registry = None
        name, api_url = props.get("instance"), props.get("api_url")
        if name is not None:
            instance = registry.named.get(name) if registry else None
            return instance.url if instance else None
        if api_url:
            # Where the inputs point, configured or not: check() refuses an unconfigured one.
            try:
                return normalize_base_url(api_url)
            except ConfigError:
                return None  # check() refuses it; never pass an unchecked URL on
        return registry.default.url if registry else None

    def target_problem(self, props: Mapping[str, Any], environ: Optional[Mapping[str, str]] = None) -> Optional[tuple[str, str]]:
        """``(field, reason)`` when the inputs name no configured BRMS, for ``check``; None if
        they do, or when they use the default instance only (its URL is checked when used)."""
        if props.get("instance") is None and not props.get("api_url"):
            return None
        field_name = "api_url" if props.get("instance") is None else "instance"
        try:
            self.registry(environ).url_for(props)
        except ConfigError as exc:
            prefix, _, rest = exc.message.partition(": ")
            if prefix in ("instance", "api_url"):
                return prefix, rest
            return field_name, exc.message
        return None

    def resolve(self, props: Optional[Mapping[str, Any]] = None, environ: Optional[Mapping[str, str]] = None) -> Credentials:
        """URL and PAT for a call about the resource ``props`` describe (inputs, or the stored
        outputs of an existing token): the PAT is that of the instance owning the URL."""
        env = os.environ if environ is None else environ
        props = props or {}
        registry = self.registry(env)
        url = _stored_url(props) or registry.url_for(props)
        owner = registry.by_url(url) if url else registry.default
        if owner is None:
            try:
                now_at = registry.url_for({k: v for k, v in props.items() if k != "brms_url"})
            except ConfigError:
                now_at = None
            raise UnconfiguredBrms(
                f"this token was minted on the BRMS at {url}, but the stack now points at {now_at or 'another BRMS'}; "
                f"{url} is no longer configured (neither {CONFIG_URL_KEY} nor any {INSTANCES_KEY}.<name>.apiUrl), "
                "so no PAT may be sent to it. Configure it again to refresh or delete this token, or run "
                "`pulumi up` to move the token (a replacement that mints a new one where the stack points now)"
            )
        return owner.credentials(env)

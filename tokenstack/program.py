"""Declares one EnvironmentToken per configured environment and the stack outputs that
downstream stacks read through StackReference."""

from __future__ import annotations

import os

import pulumi

from gorules_tokens import EnvironmentToken
from gorules_tokens.config import CONFIG_URL_KEY, normalize_base_url
from gorules_tokens.errors import ConfigError
from tokenstack.config import CONFIG_KEY, StackConfigError, parse_environments


def check_api_url() -> None:
    """Refuses a bad BRMS URL at preview (the provider itself reads it only when it calls)."""
    configured = pulumi.Config("gorules").get("apiUrl")
    source, url = (CONFIG_URL_KEY, configured) if configured else ("GORULES_URL", os.environ.get("GORULES_URL"))
    if url is None:
        return
    try:
        normalize_base_url(url)
    except ConfigError as exc:
        raise pulumi.RunError(f"invalid {source}: {exc.message}") from None


def run() -> None:
    config = pulumi.Config()
    try:
        entries = parse_environments(config.get_object(CONFIG_KEY))
    except StackConfigError as exc:
        # RunError prints just the message: the entry and the field, no traceback.
        raise pulumi.RunError(str(exc)) from None
    check_api_url()
    # A plain loop, not a helper or comprehension: the engine stores the Python stack of each
    # registration in state, so every extra frame costs bytes per token on every checkpoint.
    tokens: dict[str, EnvironmentToken] = {}
    for entry in entries:
        # Only the settings the entry spells out: unset ones cost nothing per token (see EnvironmentToken).
        # Earlier names become Pulumi aliases: a renamed entry keeps its resource and token.
        opts = pulumi.ResourceOptions(aliases=[pulumi.Alias(name=a) for a in entry.aliases]) if entry.aliases else None
        tokens[entry.name] = EnvironmentToken(entry.name, **entry.given, opts=opts)

    pulumi.export("accessTokens", pulumi.Output.secret({name: t.access_token for name, t in tokens.items()}))
    pulumi.export("fingerprints", {name: t.fingerprint for name, t in tokens.items()})
    pulumi.export("rotatedAt", {name: t.rotated_at for name, t in tokens.items()})
    pulumi.export("nextRotationAt", {name: t.next_rotation_at for name, t in tokens.items()})

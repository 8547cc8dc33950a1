"""Declares one EnvironmentToken per configured environment and the stack outputs that
downstream stacks read through StackReference."""

from __future__ import annotations

from pathlib import Path

import pulumi
from pulumi.runtime.config import CONFIG as RUNTIME_CONFIG
from pulumi.runtime.config import get_config_env

from gorules_tokens import EnvironmentToken
from gorules_tokens.config_keys import unknown_key_problems
from gorules_tokens.errors import ConfigError
from gorules_tokens.instances import Instances, parse_instances
from gorules_tokens.pat_expiry import pat_warn_days
from gorules_tokens.consumer_config import CONFIG_KEY as CONSUMERS_KEY
from gorules_tokens.consumer_config import ConsumersConfigError, parse_consumers
from gorules_tokens.stack_outputs import EXPORTED_ATTRIBUTES, export_token_stack_outputs
from tokenstack.config import CONFIG_KEY, StackConfigError, parse_environments
from tokenstack.environments_file import FILE_KEY, environments_source
from tokenstack.provider import token_provider


class StackToken(EnvironmentToken, module="gorules", name="EnvironmentToken"):
    """An ``EnvironmentToken`` (same type token, provider and state) that resolves only the
    outputs this program exports, which saves the SDK about a third of its per-token waiting."""

    resolved_outputs = EXPORTED_ATTRIBUTES


def refuse_unknown_keys() -> None:
    """A typo in a key of ``gorules:`` or ``gorules-tokens:`` fails the preview in one line,
    naming the nearest known key (else the key is silently never read)."""
    keys = set(RUNTIME_CONFIG.get()) | set(get_config_env())
    problems = unknown_key_problems(keys)
    if problems:
        raise pulumi.RunError("invalid stack config: " + "; ".join(problems))


def configured_instances() -> Instances:
    """The default and named BRMS instances, checked at preview (the provider itself reads
    them only when it calls). PATs are not needed here and are not validated."""
    gorules = pulumi.Config("gorules")
    try:
        return parse_instances(gorules.get("apiUrl"), None, gorules.get_object("instances"),
                               pat_id=gorules.get("patId"))
    except ConfigError as exc:
        raise pulumi.RunError(f"invalid BRMS config: {exc.message}") from None


def check_pat_warn_days(config: pulumi.Config) -> None:
    """``gorules-tokens:patWarnDays`` is read by the rollout; a typo fails the preview here."""
    try:
        pat_warn_days(config.get("patWarnDays"))
    except ConfigError as exc:
        raise pulumi.RunError(f"invalid config: {exc.message}") from None


def project_dir() -> Path:
    """The folder of Pulumi.yaml (the engine tells the program), else the working folder."""
    root = pulumi.get_root_directory()
    return Path(root) if root else Path.cwd()


def run() -> None:
    refuse_unknown_keys()
    config = pulumi.Config()
    instances = configured_instances()
    check_pat_warn_days(config)
    try:
        source = environments_source(config.get_object(CONFIG_KEY), config.get(FILE_KEY), project_dir())
        entries = parse_environments(source.raw, instances, source.label)
        # Checked here so a bad consumers list fails the preview, before any token is touched.
        parse_consumers(config.get_object(CONSUMERS_KEY), [e.name for e in entries], base=Path.cwd(),
                        token_stack=(pulumi.get_project(), pulumi.get_stack()))
    except (StackConfigError, ConsumersConfigError) as exc:
        # RunError prints just the message: the entry and the field, no traceback.
        raise pulumi.RunError(str(exc)) from None
    # A plain loop, not a helper or comprehension: the engine stores the Python stack of each
    # registration in state, so every extra frame costs bytes per token on every checkpoint.
    tokens: dict[str, StackToken] = {}
    # Not the default provider, which the engine would configure with (and store) the whole
    # stack config, this environments list included (see tokenstack/provider.py).
    provider = token_provider() if entries else None
    for entry in entries:
        # Only the settings the entry spells out: unset ones cost nothing per token (see EnvironmentToken).
        # Earlier names become Pulumi aliases: a renamed entry keeps its resource and token.
        opts = pulumi.ResourceOptions(provider=provider, aliases=[pulumi.Alias(name=a) for a in entry.aliases])
        tokens[entry.name] = StackToken(entry.name, **entry.given, opts=opts)

    export_token_stack_outputs(tokens)

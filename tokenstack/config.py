"""Schema of the stack config `gorules-tokens:environments`.

Validated before any resource is declared, so a typo fails `pulumi preview` with the entry
and the field named, and no token is touched. Each entry's token settings are checked by the
same rules as the resource's inputs (`gorules_tokens.inputs`), so the two can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Collection, Optional

from gorules_tokens.claims import identity
from gorules_tokens.fields import CONFIG_KEYS
from gorules_tokens.inputs import REQUIRED, InputError, TokenInputs, validate_inputs
from gorules_tokens.instances import INSTANCE_NAME, INSTANCES_KEY, NAME_RULE, Instances

CONFIG_KEY = "environments"
# Pulumi resource names end up in URNs; keep them to a safe, readable alphabet (the one
# instance names use too).
_NAME = INSTANCE_NAME
# Config keys (camelCase, as in Pulumi.<stack>.yaml) → EnvironmentToken inputs: the field table's.
_CONFIG_NAMES = {input_name: key for key, input_name in CONFIG_KEYS.items()}
# Settings of an entry that are not resource inputs.
ENTRY_KEYS = ("name", "aliases")


class StackConfigError(ValueError):
    """The stack config is invalid; the message names the entry and the field."""


@dataclass(frozen=True)
class EnvironmentEntry:
    """One environment whose token this stack owns.

    ``given`` holds only the settings the entry spells out, which is what the program
    passes to ``EnvironmentToken``; ``inputs`` has the defaults applied. ``aliases`` are
    the names the entry had before, so a rename keeps the resource (and its token).
    """

    name: str
    inputs: TokenInputs
    given: dict[str, Any]
    aliases: tuple[str, ...] = ()

    def identity(self, registry: Optional[Instances] = None) -> tuple[Optional[str], str, str]:
        """What one token belongs to, by the rule ``EnvironmentToken`` enforces in a program."""
        return identity(self.inputs.project_id, self.inputs.environment_id, self.inputs.instance, None, registry)


def _describe(index: int, raw: Any, source: str = CONFIG_KEY) -> str:
    name = raw.get("name") if isinstance(raw, dict) else None
    return f"{source}[{index}]" + (f" ({name!r})" if isinstance(name, str) else "")


def _parse_entry(
    raw: dict[str, Any], instances: Optional[Collection[str]]
) -> tuple[Optional[EnvironmentEntry], list[tuple[str, str]]]:
    """The entry, or (field, reason) pairs in config terms."""
    problems: list[tuple[str, str]] = []
    name = raw.get("name")
    if name is None:
        problems.append(("name", "required"))
    elif not isinstance(name, str) or not _NAME.fullmatch(name):
        problems.append(("name", NAME_RULE))
    aliases = raw.get("aliases") or []
    if not isinstance(aliases, list) or not all(isinstance(a, str) and _NAME.fullmatch(a) for a in aliases):
        problems.append(("aliases", f"must be a list of earlier names, each of which {NAME_RULE}"))
    allowed = ", ".join(["name", *CONFIG_KEYS, "aliases"])
    problems.extend((key, f"not a known setting (allowed: {allowed})")
                    for key in raw if key not in ENTRY_KEYS and key not in CONFIG_KEYS)
    given = {CONFIG_KEYS[key]: value for key, value in raw.items() if key in CONFIG_KEYS and value is not None}
    inputs: Optional[TokenInputs] = None
    try:
        inputs = validate_inputs(given)
    except InputError as exc:
        # Only known settings reach validate_inputs, so every problem maps back to a config key.
        problems.extend((p.where(_CONFIG_NAMES[p.field]), "required" if p.reason == REQUIRED else p.reason)
                        for p in exc.problems)
    instance = given.get("instance")
    if inputs is not None and instance is not None and instances is not None and instance not in instances:
        known = ", ".join(sorted(instances)) or "none"
        problems.append(("instance", f"unknown instance {instance!r} (configured in {INSTANCES_KEY}: {known})"))
    if problems or inputs is None:
        return None, problems
    return EnvironmentEntry(name=name, inputs=inputs, given=given, aliases=tuple(aliases)), []


def parse_environments(
    raw: Any, instances: Instances | Collection[str] | None = None, source: str = CONFIG_KEY
) -> list[EnvironmentEntry]:
    """Validates the raw config value; raises StackConfigError naming every bad field.

    ``instances``: the configured instances (or just their names), which an entry's
    ``instance`` must be one of (None: not checked here); given as ``Instances``, two entries
    are one environment when they resolve to one BRMS URL, however it is spelled.
    ``source`` names where the list came from in every message: the config key, or the
    environments file as the config names it."""
    registry = instances if isinstance(instances, Instances) else None
    if registry is not None:
        instances = registry.named
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise StackConfigError(f"{source}: must be a list of objects with name, projectId, environmentId")
    problems: list[str] = []
    entries: list[EnvironmentEntry] = []
    names: dict[str, str] = {}  # name or alias -> the entry that uses it
    owners: dict[tuple[Optional[str], str, str], str] = {}  # identity -> the entry that owns it
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            problems.append(f"{_describe(index, item, source)}: must be an object")
            continue
        entry, found = _parse_entry(item, instances)
        here = _describe(index, item, source)
        problems.extend(f"{here}: field '{where}': {reason}" for where, reason in found)
        if entry is None:
            continue
        for field, used in (("name", entry.name), *(("aliases", a) for a in entry.aliases)):
            if used in names:
                problems.append(f"{here}: field '{field}': duplicate of an earlier entry ({names[used]} uses {used!r})")
            names.setdefault(used, here)
        key = entry.identity(registry)
        if key in owners:
            # Two resources for one environment would regenerate each other's token.
            problems.append(
                f"{here}: same project and environment on the same BRMS as {owners[key]}; "
                "an environment has one token, so keep one entry (rename with 'aliases' to keep the token)"
            )
        owners.setdefault(key, here)
        entries.append(entry)
    if problems:
        where = "stack config" if source == CONFIG_KEY else f"environments file {source!r}"
        raise StackConfigError(f"invalid {where}:\n  " + "\n  ".join(problems))
    return entries

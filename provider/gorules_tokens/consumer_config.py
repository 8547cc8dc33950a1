"""``gorules-tokens:consumers``: the stacks that hand the token stack's tokens to apps.

Standard library only: the token stack program validates this list on every preview (so a
typo fails before any token is touched, with 0 BRMS requests), and the rollout reads it
again before it rotates anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Collection, Optional

CONFIG_KEY = "consumers"
QUALIFIED_KEY = f"gorules-tokens:{CONFIG_KEY}"
ALLOWED = ("dir", "stack", "uses")


class ConsumersConfigError(ValueError):
    """The consumers list is invalid; the message names the consumer and the field."""


@dataclass(frozen=True)
class Consumer:
    """One consumer stack: its Pulumi project folder and stack, and the entries it reads.

    ``uses`` is None when the consumer reads every entry of the token stack.
    """

    dir: str
    stack: str
    uses: Optional[tuple[str, ...]] = None

    @property
    def label(self) -> str:
        """How reports and progress lines name it: ``dir:stack`` as configured."""
        return f"{self.dir}:{self.stack}"

    def folder(self, base: Path) -> Path:
        """Its project folder; a relative ``dir`` is relative to the token project's folder."""
        return (base / self.dir).resolve()

    def entries(self, all_entries: Collection[str]) -> tuple[str, ...]:
        """The entries it reads, in the token stack's order when ``uses`` is absent."""
        return tuple(all_entries) if self.uses is None else self.uses


def _where(index: int, raw: Any) -> str:
    label = ""
    if isinstance(raw, dict) and isinstance(raw.get("dir"), str):
        label = f" ({raw['dir']}" + (f":{raw['stack']}" if isinstance(raw.get("stack"), str) else "") + ")"
    return f"{CONFIG_KEY}[{index}]{label}"


def _text(raw: dict[str, Any], key: str, problems: list[str]) -> Optional[str]:
    value = raw.get(key)
    if value is None:
        problems.append(f"field '{key}': required")
    elif not isinstance(value, str) or not value.strip() or value != value.strip():
        problems.append(f"field '{key}': must be a non-empty string without surrounding spaces")
    else:
        return value
    return None


def _uses(raw: dict[str, Any], entries: Optional[Collection[str]], problems: list[str]) -> Optional[tuple[str, ...]]:
    value = raw.get("uses")
    if value is None:
        return None
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        problems.append("field 'uses': must be a non-empty list of entry names (absent: every entry)")
        return None
    for name in value:
        if entries is not None and name not in entries:
            known = ", ".join(entries) or "none"
            problems.append(f"field 'uses': unknown entry {name!r} (entries of this stack: {known})")
    repeated = sorted({n for n in value if value.count(n) > 1})
    if repeated:
        problems.append(f"field 'uses': {', '.join(repeated)} listed more than once")
    return tuple(value)


def is_token_stack(consumer: Consumer, base: Path, project: str, stack: str) -> bool:
    """The consumer names the token stack itself (its folder and stack, or its qualified name)."""
    parts = consumer.stack.split("/")
    if len(parts) == 3:
        return parts[1:] == [project, stack]
    return consumer.folder(base) == base.resolve() and consumer.stack == stack


def parse_consumers(raw: Any, entries: Optional[Collection[str]] = None, base: Optional[Path] = None,
                    token_stack: Optional[tuple[str, str]] = None) -> list[Consumer]:
    """Validates the raw config value; raises ConsumersConfigError naming every bad field.

    ``entries``: the token stack's entry names, which ``uses`` must name (None: not checked).
    ``base``: the token project's folder; given, two consumers are duplicates when their
    folders resolve to the same place, not only when they are spelled alike.
    ``token_stack``: (project, stack) of the token stack, which cannot consume itself (its
    ``up`` would rotate again); checked when ``base`` is given.
    """
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ConsumersConfigError(f"{CONFIG_KEY}: must be a list of objects with dir, stack and optional uses")
    problems: list[str] = []
    consumers: list[Consumer] = []
    seen: dict[tuple[str, str], str] = {}
    for index, item in enumerate(raw):
        here = _where(index, item)
        if not isinstance(item, dict):
            problems.append(f"{here}: must be an object with dir, stack and optional uses")
            continue
        found: list[str] = [f"field '{key}': not a known setting (allowed: {', '.join(ALLOWED)})"
                            for key in item if key not in ALLOWED]
        folder, stack = _text(item, "dir", found), _text(item, "stack", found)
        uses = _uses(item, entries, found)
        if folder is not None and stack is not None:
            consumer = Consumer(dir=folder, stack=stack, uses=uses)
            key = (str(consumer.folder(base)) if base is not None else folder.rstrip("/"), stack)
            if key in seen:
                found.append(f"duplicate of {seen[key]} (same project folder and stack)")
            if base is not None and token_stack is not None and is_token_stack(consumer, base, *token_stack):
                found.append("is the token stack itself: a consumer must be another stack")
            seen.setdefault(key, here)
        problems.extend(f"{here}: {problem}" for problem in found)
        if not found:
            consumers.append(consumer)
    if problems:
        raise ConsumersConfigError(f"invalid {QUALIFIED_KEY}:\n  " + "\n  ".join(problems))
    return consumers

"""`gorules-tokens:environmentsFile`: the environments list kept in a YAML or JSON file.

Why a file: the language host hands the program the whole stack config in one environment
variable, which Linux caps at 128 KiB (about 750 inline entries). A file is read by the
program itself, so the list never travels through the engine and a stack can hold thousands.
The entries are exactly the inline list's (``tokenstack.config.parse_environments`` checks
both), so moving them between the two changes no URN and rotates nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import yaml

from tokenstack.config import CONFIG_KEY, StackConfigError

FILE_KEY = "environmentsFile"
NAMESPACE = "gorules-tokens"
SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(frozen=True)
class EnvironmentsSource:
    """The raw list and where it came from; ``label`` prefixes every error about an entry."""

    raw: Any
    label: str
    path: Optional[Path] = None


# The C parser where PyYAML has it (about ten times faster on thousands of entries).
_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _StrictLoader(_BaseLoader):  # type: ignore[misc, valid-type]
    """Safe YAML that refuses a key given twice in one mapping: PyYAML would keep the last
    one silently, and a second ``environmentId`` in an entry would point it elsewhere."""


def _mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _value in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            line = key_node.start_mark.line + 1
            raise yaml.constructor.ConstructorError(None, None, f"key {str(key)[:60]!r} is given twice (line {line})",
                                                    key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def _parse(text: str, shown: str, suffix: str) -> Any:
    """The document; StackConfigError naming the file and the line, never quoting values."""
    if suffix == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise StackConfigError(f"{shown}: not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a safe loader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        raise StackConfigError(f"{shown}: not valid YAML: {exc.problem or exc.context}{where}") from None
    except yaml.YAMLError as exc:
        raise StackConfigError(f"{shown}: not valid YAML: {exc.__class__.__name__}") from None


def read_environments_file(setting: Any, project_dir: Path) -> EnvironmentsSource:
    """The list in the file ``setting`` names (relative to ``project_dir``, the folder of
    Pulumi.yaml); StackConfigError naming the setting or the file."""
    key = f"{NAMESPACE}:{FILE_KEY}"
    if not isinstance(setting, str) or not setting.strip():
        raise StackConfigError(f"{key}: must be the path of a YAML or JSON file (relative to the project folder)")
    path = Path(setting)
    if not path.is_absolute():
        path = project_dir / path
    shown = f"{key} {setting!r}"
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise StackConfigError(f"{shown}: must end in {', '.join(SUFFIXES)} (which says how it is parsed)")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StackConfigError(f"{shown}: no such file ({path})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise StackConfigError(f"{shown}: cannot be read ({exc.__class__.__name__})") from None
    raw = _parse(text, shown, suffix)
    if raw is None:
        raw = []  # an empty file: no environments, as an unset inline list
    if not isinstance(raw, list):
        raise StackConfigError(f"{shown}: must hold a list of objects with name, projectId, environmentId "
                               "(the same entries as gorules-tokens:environments)")
    return EnvironmentsSource(raw=raw, label=setting, path=path)


def environments_source(inline: Any, file_setting: Any, project_dir: Path) -> EnvironmentsSource:
    """The inline list or the file's; both at once is an error (which would win is a guess)."""
    if file_setting is not None and inline is not None:
        raise StackConfigError(
            f"{NAMESPACE}:{CONFIG_KEY} and {NAMESPACE}:{FILE_KEY} are both set: keep the entries in one "
            f"of them (moving them between the two changes no token)")
    if file_setting is not None:
        return read_environments_file(file_setting, project_dir)
    return EnvironmentsSource(raw=inline, label=CONFIG_KEY)

"""Writes structured values into a stack's `Pulumi.<stack>.yaml`.

`pulumi config set` stores scalars; the environments list is an object, which users write
in the stack file by hand. Drivers (the demo, the tests) do the same through this helper.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def set_object_config(work_dir: Path, stack: str, key: str, value: Any) -> Path:
    """Sets `key` (namespaced, e.g. `gorules-tokens:environments`) to a YAML value."""
    path = Path(work_dir) / f"Pulumi.{stack.split('/')[-1]}.yaml"
    document = yaml.safe_load(path.read_text()) if path.exists() else None
    document = document or {}
    document.setdefault("config", {})[key] = value
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path

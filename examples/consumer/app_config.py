"""`AppConfigFile`: the app's configuration file, written by Pulumi with mode 0600.

The token reaches the app the way infrastructure hands secrets to workloads: a file only
the app's user can read, rewritten when the token stack rotates. Its content is a secret
input and a secret output, so it is encrypted in this stack's state too.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider, UpdateResult


def _write(path: str, content: str) -> None:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    # Created 0600 from the start: the secret is never readable by others, even briefly.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(content)
    os.replace(tmp, target)


class AppConfigFileProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        _write(props["path"], props["content"])
        return CreateResult(props["path"], {"path": props["path"], "content": props["content"]})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = ["path"] if olds.get("path") != news.get("path") else []
        changed = bool(replaces) or olds.get("content") != news.get("content")
        return DiffResult(changes=changed, replaces=replaces, delete_before_replace=False)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        _write(news["path"], news["content"])
        return UpdateResult({"path": news["path"], "content": news["content"]})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        path = Path(props.get("path", id_))
        if not path.exists():
            return ReadResult(None, {})
        return ReadResult(id_, {"path": str(path), "content": path.read_text()})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        Path(props["path"]).unlink(missing_ok=True)


class AppConfigFile(Resource, module="consumer", name="AppConfigFile"):
    path: pulumi.Output[str]
    content: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        path: pulumi.Input[str],
        settings: pulumi.Input[dict[str, Any]],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        content = pulumi.Output.secret(pulumi.Output.from_input(settings).apply(lambda s: json.dumps(s, indent=2)))
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=["content"]))
        super().__init__(AppConfigFileProvider(), name, {"path": path, "content": content}, opts)

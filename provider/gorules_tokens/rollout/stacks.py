"""The rollout's only door to the engine: stacks opened and driven through the Automation API.

Outputs come from ``pulumi stack output --json`` (masked: secrets read ``[secret]``; the
rollout alone reads the token stack's decrypted, to scrub its tokens from what it prints),
config from ``pulumi config get`` of non-secret keys, and state from ``pulumi stack export``
without ``--show-secrets``: no PAT is ever decrypted into this process.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from pulumi import automation as auto

# bootstrap.sh exports the folder of the pinned CLI here; anything else uses `pulumi` on PATH.
ENGINE_BIN_ENV = "GORULES_PULUMI_BIN"
TOKEN_TYPE_SUFFIX = "gorules:EnvironmentToken"
_MISSING = re.compile(r"no stack named .* found")
_LOCKED = re.compile(r"currently locked|Another update is currently in progress")
# "  pulumi-python:dynamic/consumer:AppConfigFile (app-config):" in the Diagnostics section.
_RESOURCE_HEADER = re.compile(r"^  \S+:\S* \([^)]*\):$")
# The last line of a Python traceback: "NotADirectoryError: [Errno 20] Not a directory: ...".
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)(: .*)?$")


class StackLockedError(RuntimeError):
    """Another run holds the stack's lock; nothing was changed by this one."""


class StackMissingError(RuntimeError):
    """The backend has no such stack (a consumer not created yet, or a typo in its name)."""


def pulumi_command() -> auto.PulumiCommand:
    """The engine the rest of the project uses: the pinned CLI when bootstrap.sh found it."""
    bin_dir = os.environ.get(ENGINE_BIN_ENV)
    if bin_dir and (Path(bin_dir) / "pulumi").exists():
        return auto.PulumiCommand(root=str(Path(bin_dir).parent), skip_version_check=True)
    return auto.PulumiCommand(skip_version_check=True)


def engine_message(exc: BaseException, limit: int = 4) -> str:
    """The engine's own diagnosis of a failed command, one line: for each resource in its
    "Diagnostics:" section the error (the exception line of a Python traceback rather than
    the traceback), without the command's dump of stdout and stderr."""
    text = str(exc)
    found: list[str] = []
    resource = ""
    for line in text.splitlines():
        stripped = line.strip()
        if _RESOURCE_HEADER.match(line):
            resource = stripped.rstrip(":")
        elif _EXCEPTION_LINE.match(stripped) or (stripped.startswith("error:") and "Traceback" not in stripped):
            message = stripped.removeprefix("error:").strip()
            if message != "update failed" and message not in found and f"{resource}: {message}" not in found:
                found.append(f"{resource}: {message}" if resource else message)
    if found:
        return " | ".join(found[:limit])
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__


def is_locked(exc: BaseException) -> bool:
    return isinstance(exc, auto.ConcurrentUpdateError) or bool(_LOCKED.search(str(exc)))


@dataclass
class StackHandle:
    """One stack of one project folder."""

    folder: Path
    name: str
    command: auto.PulumiCommand
    _stack: Optional[auto.Stack] = None

    @property
    def stack(self) -> auto.Stack:
        if self._stack is None:
            opts = auto.LocalWorkspaceOptions(work_dir=str(self.folder), pulumi_command=self.command)
            self._stack = auto.select_stack(self.name, work_dir=str(self.folder), opts=opts)
        return self._stack

    def _run(self, *args: str) -> str:
        return self.command.run([*args, "--stack", self.name], str(self.folder), {}).stdout

    def outputs(self, show_secrets: bool = False) -> dict[str, Any]:
        """Stack outputs; every secret reads ``[secret]`` unless ``show_secrets``."""
        reveal = ["--show-secrets"] if show_secrets else []
        try:
            return json.loads(self._run("stack", "output", "--json", *reveal) or "{}")
        except auto.CommandError as exc:
            if _MISSING.search(str(exc)):
                raise StackMissingError(f"no stack {self.name!r} in {self.folder}") from None
            raise

    def config_object(self, key: str) -> Any:
        """A non-secret config value, parsed (None when the key is not set)."""
        try:
            raw = json.loads(self._run("config", "get", key, "--json"))
        except auto.CommandError as exc:
            if "not found" in str(exc) or "could not find" in str(exc).lower():
                return None
            raise
        if raw.get("secret"):
            raise ValueError(f"{key} must not be a secret")
        if "objectValue" in raw:
            return raw["objectValue"]
        try:
            return json.loads(raw["value"])
        except (TypeError, ValueError):
            return raw["value"]

    def _tokens_in_state(self) -> list[dict[str, Any]]:
        """Every live EnvironmentToken in state, exported without decrypting its secrets."""
        deployment = self.stack.export_stack().deployment or {}
        return [r for r in deployment.get("resources") or []
                if str(r.get("type", "")).endswith(TOKEN_TYPE_SUFFIX) and not r.get("delete")]

    def token_urns(self) -> dict[str, str]:
        """Resource name -> URN, for ``--replace``."""
        return {r["urn"].rsplit("::", 1)[-1]: r["urn"] for r in self._tokens_in_state()}

    def token_details(self) -> dict[str, dict[str, Any]]:
        """Resource name -> its plain (non-secret, scalar) outputs, such as environment_type."""
        return {r["urn"].rsplit("::", 1)[-1]: {k: v for k, v in (r.get("outputs") or {}).items()
                                                if isinstance(v, (str, int, float, bool, type(None)))}
                for r in self._tokens_in_state()}

    def up(self, on_output: Callable[[str], None], refresh: Optional[bool] = None,
           replace: Optional[list[str]] = None, continue_on_error: bool = False) -> None:
        """``pulumi up --yes --skip-preview`` and nothing else.

        Not ``auto.Stack.up``: that one first runs ``pulumi stack select`` in the project
        folder (changing the stack its user has selected there) and, after the update, reads
        the outputs twice (once decrypted) and the last history entry (decrypted). Those three
        extra CLI runs cost about 3.7 s on a loaded 2-core machine, and in a rollout they sit
        between the regenerate and the consumers' start, and in every consumer's slot
        (docs/PERFORMANCE.md, "Rollout: what the apps see")."""
        args = ["up", "--yes", "--skip-preview"]
        if refresh:
            args.append("--refresh")
        for urn in replace or []:
            args += ["--replace", urn]
        if continue_on_error:
            args.append("--continue-on-error")
        _lock_named(self.command.run, args=[*args, "--stack", self.name], cwd=str(self.folder), additional_env={},
                    on_output=on_output)

    def preview(self, on_output: Callable[[str], None], **kwargs: Any) -> auto.PreviewResult:
        return _lock_named(self.stack.preview, on_output=on_output, **kwargs)


def _lock_named(operation: Callable[..., Any], **kwargs: Any) -> Any:
    """Runs an engine operation; another run's lock becomes a StackLockedError."""
    try:
        return operation(**kwargs)
    except auto.CommandError as exc:
        if is_locked(exc):
            raise StackLockedError(engine_message(exc)) from None
        raise


def selected_stack(folder: Path, command: auto.PulumiCommand) -> Optional[str]:
    """The stack selected in ``folder`` (``pulumi stack select``), if any."""
    workspace = auto.LocalWorkspace(work_dir=str(folder), pulumi_command=command)
    current = workspace.stack()
    return current.name if current else None

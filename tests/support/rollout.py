"""Rollout harness: consumer stacks of `examples/consumer/` beside a token stack, and the
`gorules-tokens` command run as a user runs it (its console script, in a subprocess)."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pulumi import automation as auto

from support.brms import TokenStack, env_by_name
from support.engine import REPO_ROOT, VENV, EngineEnv, create_stack, prepare_workspace
from tokenstack.stackfile import set_object_config

CONSUMER_PROGRAM = REPO_ROOT / "examples" / "consumer"
CONSUMERS_KEY = "gorules-tokens:consumers"


@dataclass
class ConsumerStack:
    """One consumer: a project folder of its own, a stack, and its app's config file."""

    stack: auto.Stack
    work_dir: Path
    app_config: Path
    entry: str

    def updates(self) -> int:
        """How many updates its history holds: unchanged means the rollout never ran it."""
        return sum(1 for h in self.stack.history(show_secrets=False) if h.kind == "update")

    def exported(self) -> dict[str, str] | None:
        value = self.stack.outputs().get("gorulesTokenFingerprints")
        return None if value is None else dict(value.value)

    def app(self) -> subprocess.CompletedProcess:
        """The app itself, evaluating with the token in its config file (exit 0 on HTTP 200)."""
        return subprocess.run([sys.executable, str(CONSUMER_PROGRAM / "app.py"), str(self.app_config)],
                              capture_output=True, text=True, timeout=60)


def new_consumer(engine: EngineEnv, token: TokenStack, seed: dict[str, Any], folder: Path, stack_name: str,
                 entry: str, environment: str | None = None, program: Path = CONSUMER_PROGRAM) -> ConsumerStack:
    """A consumer stack in `folder` that hands `entry`'s token to an app; `environment`: the
    seeded environment the entry is (default: the entry's own name)."""
    work = prepare_workspace(program, folder)
    app_config = folder.parent / f"{stack_name}-app.json"
    stack = create_stack(engine, work, stack_name, {
        "gorules-consumer:tokenStack": auto.ConfigValue(f"organization/gorules-tokens/{token.stack.name}"),
        "gorules-consumer:environment": auto.ConfigValue(entry),
        "gorules-consumer:appConfigPath": auto.ConfigValue(str(app_config)),
        "gorules-consumer:projectId": auto.ConfigValue(seed["projectId"]),
        "gorules-consumer:environmentId": auto.ConfigValue(env_by_name(seed, environment or entry)["id"]),
    })
    return ConsumerStack(stack=stack, work_dir=work, app_config=app_config, entry=entry)


def declare_consumers(token: TokenStack, consumers: list[dict[str, Any]]) -> None:
    set_object_config(token.work_dir, token.stack.name, CONSUMERS_KEY, consumers)


@dataclass
class CommandRun:
    code: int
    output: str
    report: dict[str, Any] | None


def gorules_tokens_command(engine: EngineEnv, token: TokenStack, *args: str, json_file: Path | None = None,
                           drop_env: tuple[str, ...] = ()) -> tuple[list[str], dict[str, str]]:
    """Arguments and environment of `gorules-tokens <args> --cwd <token project> --stack <token
    stack> [--json FILE]`, with the engine's isolated environment (bench/rollout.py runs it
    itself to stream its progress lines)."""
    extra = ["--json", str(json_file)] if json_file else []
    env = _env(engine, drop_env)
    argv = [str(VENV / "bin" / "gorules-tokens"), *args, "--cwd", str(token.work_dir), "--stack", token.stack.name,
            *extra]
    return argv, env


def _env(engine: EngineEnv, drop: tuple[str, ...] = ()) -> dict[str, str]:
    env = {**os.environ, **engine.env(), "GORULES_PULUMI_BIN": str(engine.bin_dir)}
    return {k: v for k, v in env.items() if k not in drop}


def run_command_line(engine: EngineEnv, line: str, json_file: Path | None = None, timeout: float = 600) -> CommandRun:
    """Runs a command line as a report's "to finish" prints it (`gorules-tokens rollout ...`)."""
    words = shlex.split(line)
    assert words[0] == "gorules-tokens", line
    argv = [str(VENV / "bin" / "gorules-tokens"), *words[1:], *(["--json", str(json_file)] if json_file else [])]
    done = subprocess.run(argv, env=_env(engine), capture_output=True, text=True, timeout=timeout)
    return CommandRun(done.returncode, done.stdout + done.stderr, _report(json_file))


def _report(json_file: Path | None) -> dict[str, Any] | None:
    return json.loads(json_file.read_text()) if json_file and json_file.exists() else None


def gorules_tokens(engine: EngineEnv, token: TokenStack, *args: str, json_file: Path | None = None,
                   timeout: float = 600, drop_env: tuple[str, ...] = ()) -> CommandRun:
    """Runs the command to its end."""
    argv, env = gorules_tokens_command(engine, token, *args, json_file=json_file, drop_env=drop_env)
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout)
    return CommandRun(done.returncode, done.stdout + done.stderr, _report(json_file))


@dataclass
class RunningCommand:
    """A `gorules-tokens` run in the background, watched line by line."""

    process: subprocess.Popen
    backend: Path
    json_file: Path | None
    lines: list[str]

    def wait_for_line(self, text: str, timeout: float = 300) -> None:
        """Blocks until the command prints a line containing `text` (bounded)."""
        deadline = time.monotonic() + timeout
        assert self.process.stdout is not None
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                raise AssertionError(f"the command ended before printing {text!r}: {''.join(self.lines)}")
            self.lines.append(line)
            if text in line:
                return
        raise AssertionError(f"no line with {text!r} within {timeout} s")

    def wait_for_lock(self, timeout: float = 60) -> None:
        """Blocks until a stack lock exists on the `file://` backend (bounded poll)."""
        deadline = time.monotonic() + timeout
        while not any((self.backend / ".pulumi" / "locks").rglob("*.json")):
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise AssertionError("no stack lock appeared")
            time.sleep(0.05)

    def finish(self, timeout: float = 600) -> CommandRun:
        rest, _ = self.process.communicate(timeout=timeout)
        return CommandRun(self.process.returncode, "".join(self.lines) + rest, _report(self.json_file))


def start_gorules_tokens(engine: EngineEnv, token: TokenStack, *args: str,
                         json_file: Path | None = None) -> RunningCommand:
    argv, env = gorules_tokens_command(engine, token, *args, json_file=json_file)
    process = subprocess.Popen(argv, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return RunningCommand(process, engine.backend, json_file, [])


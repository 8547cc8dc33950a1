"""The pinned engine really runs Python programs with dynamic providers."""

from __future__ import annotations

import json
import platform
from pathlib import Path

import pytest
from pulumi import automation as auto

from support.engine import REPO_ROOT, VENV, EngineEnv
from support import state

NOOP = REPO_ROOT / "tests" / "programs" / "noop"
PINNED = "3.274.1"

pytestmark = pytest.mark.engine


def test_installed_cli_reports_the_pinned_version(engine: EngineEnv, tmp_path: Path) -> None:
    out = engine.cli("version", cwd=tmp_path)
    assert out.stdout.strip() == f"v{PINNED}"
    # Automation API parses the same version and accepts it (same major as the SDK).
    assert str(engine.command().version) == PINNED


def test_python_plugins_sit_beside_the_cli(pulumi_bin: Path) -> None:
    for name in ("pulumi-language-python", "pulumi-language-python-exec", "pulumi-resource-pulumi-python"):
        plugin = pulumi_bin / name
        assert plugin.is_file(), name
        assert plugin.stat().st_mode & 0o100, f"{name} must be executable by its owner"


def test_up_then_destroy_of_a_dynamic_resource(program_stack, engine: EngineEnv) -> None:
    stack = program_stack(NOOP, config={"noop:count": auto.ConfigValue("3")})

    up = stack.up(on_output=lambda _line: None)
    assert up.summary.result == "succeeded"
    assert up.summary.resource_changes == {"create": 4}
    assert up.outputs["count"].value == 3

    checkpoint = state.stack_checkpoint(engine.backend, "noop", "test")
    types = sorted(r["type"] for r in state.resources(checkpoint))
    assert types.count("pulumi-python:dynamic/noop:Noop") == 3

    # A second preview sees no change: the engine diffed through our provider.
    preview = stack.preview(on_output=lambda _line: None)
    assert preview.change_summary == {"same": 4}

    destroy = stack.destroy(on_output=lambda _line: None)
    assert destroy.summary.result == "succeeded"
    assert destroy.summary.resource_changes == {"delete": 4}
    after = state.stack_checkpoint(engine.backend, "noop", "test")
    assert state.resources(after) == []


def test_plain_cli_runs_the_program_with_its_virtualenv(program_stack, engine: EngineEnv) -> None:
    stack = program_stack(NOOP, config={"noop:value": auto.ConfigValue("hello")})
    work = Path(stack.workspace.work_dir)
    engine.cli("up", "--yes", "--stack", "test", cwd=work)
    out = engine.cli("stack", "output", "--json", "--stack", "test", cwd=work)
    assert json.loads(out.stdout)["values"] == ["hello"]
    # The language host's About (engine/langhost: one Python process, no pip) names the
    # virtualenv's interpreter and its version.
    about = json.loads(engine.cli("about", "--json", "--stack", "test", cwd=work).stdout)
    assert about["runtime"] == {"language": "python", "executable": str(VENV / "bin" / "python"),
                                "version": platform.python_version()}
    engine.cli("destroy", "--yes", "--stack", "test", cwd=work)


def test_secret_config_is_encrypted_at_rest(program_stack, engine: EngineEnv) -> None:
    secret = "correct-horse-battery-staple-0123456789"
    stack = program_stack(NOOP, config={"noop:apiKey": auto.ConfigValue(secret, secret=True)})
    stack.up(on_output=lambda _line: None)
    stack.destroy(on_output=lambda _line: None)
    files = state.backend_files(engine.backend) + list(Path(stack.workspace.work_dir).glob("Pulumi.*.yaml"))
    assert any("history" in str(f) for f in files)
    state.assert_no_plaintext([secret], files)

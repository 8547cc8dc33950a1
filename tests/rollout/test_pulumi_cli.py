"""`StackHandle.up`, the rollout's update of the token stack and of every consumer, through the
real CLI: one `pulumi up` and nothing else, so no CLI run sits between a regenerate and the
consumers that hand the new token on, and the user's selected stack in a consumer's folder
stays as it was."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pulumi import automation as auto

from gorules_tokens.rollout.pulumi_cli import Engine, Finished, StackHandle
from support.engine import REPO_ROOT, EngineEnv, create_stack, prepare_workspace

pytestmark = pytest.mark.engine

NOOP = REPO_ROOT / "tests" / "programs" / "noop"


class RecordingEngine(Engine):
    """The pinned CLI, remembering the arguments of every command it ran."""

    def __init__(self, bin_dir: Path) -> None:
        super().__init__(bin_dir / "pulumi")
        self.ran: list[list[str]] = []

    def run(self, args, cwd, **kwargs) -> Finished:
        self.ran.append(list(args))
        return super().run(args, cwd, **kwargs)


def test_up_runs_one_pulumi_up_decrypts_nothing_and_keeps_the_selected_stack(
        engine: EngineEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in engine.env().items():
        monkeypatch.setenv(name, value)
    work = prepare_workspace(NOOP, tmp_path / "ws-noop")
    create_stack(engine, work, "other")
    create_stack(engine, work, "rolled", {"noop:value": auto.ConfigValue("v1")})
    engine.cli("stack", "select", "other", cwd=work)
    recording = RecordingEngine(engine.bin_dir)
    handle = StackHandle(work, "rolled", recording)

    handle.up()
    assert recording.ran == [["up", "--yes", "--skip-preview", "--stack", "rolled"]]
    assert engine.cli("stack", "--show-name", cwd=work).stdout.strip() == "other"
    assert handle.outputs()["count"] == 1

    urn = "urn:pulumi:rolled::noop::pulumi-python:dynamic/noop:Noop::noop-0"
    recording.ran.clear()
    steps = handle.up(replace=[urn], continue_on_error=True)
    assert recording.ran == [["up", "--yes", "--skip-preview", "--replace", urn, "--continue-on-error",
                              "--stack", "rolled"]]
    assert steps.result == "succeeded" and not steps.failed
    assert not any("--show-secrets" in args for args in recording.ran)
    latest = json.loads(engine.cli("stack", "history", "--json", "--stack", "rolled", cwd=work).stdout)[0]
    assert latest["resourceChanges"].get("replace") == 1, latest
    ended = handle.last_update()
    assert ended is not None and ended.isoformat().startswith(latest["endTime"][:16])
    assert engine.cli("stack", "--show-name", cwd=work).stdout.strip() == "other"

"""An empty plan after every end-to-end ``up``, as Terraform's acceptance framework checks.

A step that leaves something to do (a field the provider echoes differently than the
program sends, a status the plan keeps retrying, an output that changes on every read) is a
perpetual diff: every ``up`` of every user would show a change. Each end-to-end ``up`` goes
through :func:`up` (or :func:`cli_up`), which follows it with one
``pulumi preview --expect-no-changes``: a preview runs the program and diffs every resource
with no BRMS request (``diff`` is offline), so the check costs one engine start per ``up``.

A no-change plan must also be quiet: no output of any resource or of the stack may be
``[unknown]`` in it, since an operator reading the plan cannot tell that from a change.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from pulumi import automation as auto
from pulumi.runtime.rpc import UNKNOWN

from support.engine import EngineEnv
from support.ops import UpRun, run_up

_TAIL = 4000


class PerpetualDiff(AssertionError):
    """The plan after a successful ``up`` was not empty."""


def _quiet(_line: str) -> None:
    pass


class NoisyPlan(AssertionError):
    """A no-change plan showed an output as ``[unknown]``."""


def unknown_paths(value: Any, path: str = "") -> list[str]:
    """Where the engine's unknown sentinel sits in ``value`` (``nextRotationAt.staging``)."""
    if isinstance(value, str):
        return [path] if value == UNKNOWN else []
    if isinstance(value, dict):
        return [p for key, item in value.items() for p in unknown_paths(item, f"{path}.{key}" if path else str(key))]
    if isinstance(value, list):
        return [p for i, item in enumerate(value) for p in unknown_paths(item, f"{path}[{i}]")]
    return []


def unknown_outputs(events: list[auto.EngineEvent]) -> list[str]:
    """``urn: output.path`` for every output the plan shows unknown (the outputs events carry
    the new outputs of each resource and, last, of the stack)."""
    found: list[str] = []
    for event in events:
        outputs_event = event.res_outputs_event
        if outputs_event is None or outputs_event.metadata.new is None:
            continue
        new = outputs_event.metadata.new
        found.extend(f"{new.urn}: {path}" for path in unknown_paths(new.outputs or {}))
    return found


def assert_empty_plan(stack: auto.Stack) -> None:
    """``pulumi preview --expect-no-changes`` on ``stack``; PerpetualDiff with the preview's
    output (which names the resource and the property) when it proposes anything, NoisyPlan
    naming each output it shows ``[unknown]``."""
    lines: list[str] = []
    events: list[auto.EngineEvent] = []
    try:
        stack.preview(expect_no_changes=True, diff=True, on_output=lines.append, on_event=events.append)
    except auto.errors.CommandError as exc:
        shown = "".join(f"{line}\n" for line in lines) or str(exc)
        raise PerpetualDiff(f"the plan after `up` is not empty (a perpetual diff):\n{shown[-_TAIL:]}") from None
    unknown = unknown_outputs(events)
    if unknown:
        raise NoisyPlan("the no-change plan shows outputs as [unknown]:\n  " + "\n  ".join(unknown))


def up(stack: auto.Stack, *, settled: bool = True, **kwargs: Any) -> UpRun:
    """``pulumi up`` (``support.ops.run_up(**kwargs)``), then an empty plan. ``settled=False``
    only where the step leaves a change by design (a ``rotate_after`` shorter than the step
    itself); say why at the call."""
    kwargs.setdefault("on_output", _quiet)
    result = run_up(stack, **kwargs)
    if settled:
        assert_empty_plan(stack)
    return result


def cli_up(engine: EngineEnv, cwd: Path, *args: str, stack: str | None = None) -> subprocess.CompletedProcess:
    """``pulumi up --yes [args]`` through the plain CLI, then ``pulumi preview --expect-no-changes``."""
    where = ("--stack", stack) if stack else ()
    done = engine.cli("up", "--yes", *where, *args, cwd=cwd)
    preview = engine.cli("preview", "--expect-no-changes", "--diff", *where, cwd=cwd, check=False)
    if preview.returncode != 0:
        raise PerpetualDiff("the plan after `up` is not empty (a perpetual diff):\n"
                            + (preview.stdout + preview.stderr)[-_TAIL:])
    # The CLI's text shows an unknown as `[unknown]` inside a value, `output<T>` for a whole one.
    if "[unknown]" in preview.stdout or "output<" in preview.stdout:
        raise NoisyPlan("the no-change plan shows outputs as [unknown]:\n" + preview.stdout[-_TAIL:])
    return done

"""An empty plan after every end-to-end ``up``, as Terraform's acceptance framework checks.

A step that leaves something to do (a field the provider echoes differently than the
program sends, a status the plan keeps retrying, an output that changes on every read) is a
perpetual diff: every ``up`` of every user would show a change. Each end-to-end ``up`` goes
through :func:`up` (or :func:`cli_up`), which follows it with one
``pulumi preview --expect-no-changes``: a preview runs the program and diffs every resource
with no BRMS request (``diff`` is offline), so the check costs one engine start per ``up``.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from pulumi import automation as auto

from support.engine import EngineEnv
from support.ops import UpRun, run_up

_TAIL = 4000


class PerpetualDiff(AssertionError):
    """The plan after a successful ``up`` was not empty."""


def _quiet(_line: str) -> None:
    pass


def assert_empty_plan(stack: auto.Stack) -> None:
    """``pulumi preview --expect-no-changes`` on ``stack``; PerpetualDiff with the preview's
    output (which names the resource and the property) when it proposes anything."""
    lines: list[str] = []
    try:
        stack.preview(expect_no_changes=True, diff=True, on_output=lines.append)
    except auto.errors.CommandError as exc:
        shown = "".join(f"{line}\n" for line in lines) or str(exc)
        raise PerpetualDiff(f"the plan after `up` is not empty (a perpetual diff):\n{shown[-_TAIL:]}") from None


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
    return done

"""``pulumi up`` for tests, without the Automation API's follow-up reads.

After the update, ``auto.Stack.up`` runs three more CLI processes: the stack's outputs twice
(once decrypted, which derives the passphrase key again) and its last history entry
(decrypted too): about 1 s of CPU per ``up`` on this machine, more than a third of a small
``up`` itself, and most tests read neither. :func:`run_up` runs the one ``pulumi up`` (the
same command line the Automation API builds) and reads the summary or the outputs only when
a test asks for them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from typing import Callable, Optional, Sequence

from pulumi import automation as auto


@dataclass
class UpRun:
    """One finished ``pulumi up``: what it printed, and on demand its summary and the outputs."""

    stack: auto.Stack
    stdout: str
    stderr: str
    started: datetime = field(repr=False)

    @cached_property
    def summary(self) -> auto.UpdateSummary:
        summary = self.stack.info()
        # The latest history entry is this `up`'s only while nothing else ran on the stack.
        assert summary is not None and summary.kind == "update" and summary.start_time >= self.started, (
            f"the stack's latest update is not this `up` (read its summary before the next operation): {summary}")
        return summary

    @cached_property
    def outputs(self) -> auto.OutputMap:
        return self.stack.outputs()


def run_up(
    stack: auto.Stack,
    *,
    on_output: Optional[Callable[[str], None]] = None,
    on_error: Optional[Callable[[str], None]] = None,
    parallel: Optional[int] = None,
    replace: Sequence[str] = (),
    refresh: bool = False,
    continue_on_error: bool = False,
) -> UpRun:
    """``pulumi up --yes --skip-preview`` with these options; raises the Automation API's
    ``CommandError`` (or its subclasses, such as ``ConcurrentUpdateError``) when it fails."""
    args = ["up", "--yes", "--skip-preview"]
    if parallel is not None:
        args += ["--parallel", str(parallel)]
    for urn in replace:
        args += ["--replace", urn]
    if refresh:
        args.append("--refresh")
    if continue_on_error:
        args.append("--continue-on-error")
    workspace = stack.workspace
    env = {**({"PULUMI_HOME": workspace.pulumi_home} if workspace.pulumi_home else {}), **workspace.env_vars}
    # The SDK parses history times as naive UTC; the margin covers a stamp rounded down.
    started = datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
    result = workspace.pulumi_command.run(
        [*args, "--exec-kind", "auto.local", "--stack", stack.name], workspace.work_dir, env, on_output, on_error)
    return UpRun(stack, result.stdout, result.stderr, started)

"""Check results, their rendering and the exit code.

A result is ``match`` (the provider's assumption holds), ``differs`` (it does not, and the
provider degrades in a way the meaning spells out), ``breaks`` (the provider would misbehave:
exit code 1) or ``skipped``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal, TextIO

from gorules_tokens.errors import scrub

Verdict = Literal["match", "differs", "breaks", "skipped"]
_LABEL = {"match": "[ok]     ", "differs": "[differs]", "breaks": "[BREAKS] ", "skipped": "[skipped]"}


@dataclass(frozen=True)
class Result:
    check: str
    verdict: Verdict
    observed: str
    meaning: str = ""

    def scrubbed(self) -> Result:
        """Every text through the provider's scrubber: no PAT or token ever reaches the report."""
        return Result(self.check, self.verdict, scrub(self.observed), scrub(self.meaning))


def render(results: list[Result], out: TextIO) -> None:
    for result in results:
        out.write(f"{_LABEL[result.verdict]} {result.check}: {result.observed}\n")
        if result.meaning:
            out.write(f"           means: {result.meaning}\n")
    counts = {v: sum(1 for r in results if r.verdict == v) for v in _LABEL}
    out.write(
        f"\n{counts['match']} matched, {counts['differs']} differ, {counts['breaks']} break the provider,"
        f" {counts['skipped']} skipped\n"
    )


def write_json(results: list[Result], path: Path) -> None:
    path.write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n")


def exit_code(results: list[Result]) -> int:
    return 1 if any(r.verdict == "breaks" for r in results) else 0

"""The whole-suite leak scan and the reliability figures, once every test process is done.

With pytest-xdist the tests run in several worker processes, each with its own leak watch
and figures, and no test can know it runs last. So each process writes what it saw to its
pytest basetemp when its session ends (`save`), and the process that ends last (the xdist
controller, or the only process of a run without workers) merges them all (`gather`) and
scans every folder and every line of CLI output against every secret any process saw. A leak
fails the run whichever test ran where, in whichever order.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from reliability._harness import Figures, LeakWatch

DUMP_NAME = "reliability-watch.json"


def save(basetemp: Path, watch: LeakWatch, figures: Figures) -> None:
    """This process's watch and figures, in an owner-only file beside its tests' folders
    (never inside one, so no scan reads the secrets it lists)."""
    data = {"watch": watch.as_dict(), "figures": figures.values}
    if not (watch.secrets or watch.roots or figures.values):
        return
    fd = os.open(basetemp / DUMP_NAME, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(data, out)


def gather(basetemp: Path) -> tuple[LeakWatch, Figures, int]:
    """Everything the processes of this run saved: the basetemp's own file (a run without
    workers) and each worker's (`<basetemp>/popen-gw<N>/`). Returns the merged watch, the
    merged figures and how many processes had saved something."""
    watch, figures, processes = LeakWatch(), Figures(), 0
    for dump in [basetemp / DUMP_NAME, *sorted(basetemp.glob(f"popen-gw*/{DUMP_NAME}"))]:
        if not dump.is_file():
            continue
        processes += 1
        data = json.loads(dump.read_text(encoding="utf-8"))
        watch.merge(data["watch"])
        for test, values in data["figures"].items():
            figures.values.setdefault(test, {}).update(values)
    return watch, figures, processes

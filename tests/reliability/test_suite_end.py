"""The whole-suite leak scan across test processes (`_suite_end`): a secret one pytest-xdist
worker saw is found in the folders and CLI output of another, which neither watch alone can."""

from __future__ import annotations

import secrets
import stat
from pathlib import Path

from reliability._harness import Figures, LeakWatch
from reliability._suite_end import DUMP_NAME, gather, save


def test_a_secret_seen_by_one_worker_is_found_in_what_another_worker_wrote(tmp_path: Path) -> None:
    basetemp = tmp_path / "basetemp"
    planted = "tok-" + secrets.token_urlsafe(32)
    first, second = LeakWatch(), LeakWatch()
    first.secret(planted, "token seen by gw0")
    folder = basetemp / "popen-gw1" / "test_other0"
    folder.mkdir(parents=True)
    (folder / "stack.json").write_text(f'{{"token": "{planted}"}}')
    second.root(folder)
    second.text("gw1: pulumi up", f"created {planted}")
    first_figures, second_figures = Figures(), Figures()
    first_figures.record("parallel_50", "first_up_seconds", 1.234)
    second_figures.record("leak_scan", "files_scanned", 3)
    assert first.scan() == [] and second.scan() == []  # apart, neither sees the leak

    for worker, watch, figures in (("popen-gw0", first, first_figures), ("popen-gw1", second, second_figures)):
        (basetemp / worker).mkdir(parents=True, exist_ok=True)
        save(basetemp / worker, watch, figures)
        assert stat.S_IMODE((basetemp / worker / DUMP_NAME).stat().st_mode) == 0o600
    save(basetemp / "popen-gw2", LeakWatch(), Figures())  # a worker that saw nothing writes nothing
    assert not (basetemp / "popen-gw2" / DUMP_NAME).exists()

    watch, figures, processes = gather(basetemp)
    assert processes == 2
    assert {leak.where for leak in watch.scan()} == {str(folder / "stack.json"), "gw1: pulumi up"}
    assert figures.values == {"parallel_50": {"first_up_seconds": 1.23}, "leak_scan": {"files_scanned": 3}}


def test_a_run_without_workers_is_gathered_from_the_basetemp_itself(tmp_path: Path) -> None:
    basetemp = tmp_path / "basetemp"
    basetemp.mkdir()
    watch = LeakWatch()
    watch.secret("pat-" + secrets.token_urlsafe(24), "admin PAT")
    save(basetemp, watch, Figures())
    merged, _, processes = gather(basetemp)
    assert processes == 1 and merged.secrets == watch.secrets

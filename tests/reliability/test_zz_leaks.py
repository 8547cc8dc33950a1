"""The leak check of one full lifecycle against every secret seen so far. The scan of the whole
session, everything against everything, runs when the session ends (the `_whole_session_scan`
fixture in conftest.py), so it no longer depends on this file sorting last.

It drives one more full lifecycle (up while watching the backend's lock files,
out-of-band regenerate + refresh, rotation, a failing up with a wrong PAT, destroy with
revocation) so it never scans nothing, then looks for every token and PAT seen by the
whole run, in plain text, in every backend file (stacks, history, backups, locks), the
Pulumi homes and their logs, the workspaces (stack config files), the localbrms server
logs, every captured line of CLI output (stdout and stderr, failing runs included; the
provider's stderr arrives there), and the CLI logs the suite writes.
"""

from __future__ import annotations

import secrets
import threading
import time
from pathlib import Path

import pytest
from pulumi import automation as auto

from reliability._harness import LeakWatch, entry, evaluate_status, live_tokens
from support.brms import env_by_name, regenerate_out_of_band

pytestmark = pytest.mark.engine


class LockWatcher:
    """Copies every lock file that shows up in the backend while a command runs."""

    def __init__(self, backend: Path) -> None:
        self.folder = backend / ".pulumi" / "locks"
        self.seen: dict[str, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.folder.exists():
                for path in self.folder.rglob("*"):
                    if path.is_file():
                        try:
                            self.seen.setdefault(str(path), path.read_text(errors="replace"))
                        except OSError:
                            pass
            time.sleep(0.01)

    def __enter__(self) -> "LockWatcher":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def test_the_scanner_finds_a_planted_secret(tmp_path: Path) -> None:
    watch = LeakWatch()
    planted = "tok-" + secrets.token_urlsafe(32)
    watch.secret(planted, "planted")
    (tmp_path / "plant" / ".pulumi" / "history").mkdir(parents=True)
    (tmp_path / "plant" / ".pulumi" / "history" / "x.json").write_text(f'{{"v": "{planted}"}}')
    watch.text("planted output", f"error: {planted}")
    leaks = watch.scan(roots=[tmp_path / "plant"])
    assert {leak.where for leak in leaks} == {str(tmp_path / "plant/.pulumi/history/x.json"), "planted output"}


def test_no_token_or_pat_in_plain_text_anywhere_after_the_suite(
    token_stack, seeded, brms, leak_watch, figures
) -> None:
    project_id = seeded["projectId"]
    staging = env_by_name(seeded, "staging")["id"]
    production = env_by_name(seeded, "production")["id"]

    def configure(version: str) -> None:
        driver.configure([
            entry(project_id, staging, "staging", revokeOnDelete=True, keepers={"v": version}),
            entry(project_id, production, "production"),
        ])

    driver = token_stack([])
    configure("1")
    with LockWatcher(driver.ts.engine.backend) as locks:
        driver.up()
    for path, text in locks.seen.items():
        leak_watch.text(f"lock file {path}", text)
    assert locks.seen, "no lock file was observed during pulumi up"

    # A failing up with a wrong PAT (its output is scanned too), then the rotation with
    # the right one (a successful up also puts the right PAT back into the provider
    # config that refresh/destroy take from state).
    wrong = "pat-wrong-" + secrets.token_urlsafe(24)
    leak_watch.secret(wrong, "wrong PAT")
    driver.stack.set_config("gorules:token", auto.ConfigValue(wrong, secret=True))
    configure("2")
    driver.fails("up")
    driver.stack.set_config("gorules:token", auto.ConfigValue(brms.pat, secret=True))
    driver.up()

    leak_watch.secret(regenerate_out_of_band(brms, project_id, staging), "out-of-band token")
    driver.refresh()
    driver.snapshot()
    live = live_tokens(brms, project_id, leak_watch)

    shown = driver.ts.engine.cli("stack", "output", "--stack", "test", cwd=driver.ts.work_dir)
    leak_watch.text("pulumi stack output", shown.stdout + shown.stderr)
    history = driver.ts.engine.cli("stack", "history", "--stack", "test", cwd=driver.ts.work_dir)
    leak_watch.text("pulumi stack history", history.stdout + history.stderr)
    driver.destroy()
    assert evaluate_status(brms, project_id, staging, live[staging]) == 401  # revoked on delete
    live_tokens(brms, project_id, leak_watch)

    leaks = leak_watch.scan()
    files = leak_watch.files_scanned()
    figures.record("leak_scan", "secrets_tracked", len(leak_watch.secrets))
    figures.record("leak_scan", "files_scanned", files)
    figures.record("leak_scan", "cli_outputs_scanned", len(leak_watch.texts))
    figures.record("leak_scan", "lock_files_seen", len(locks.seen))
    assert not leaks, "secrets in plain text:\n  " + "\n  ".join(sorted({str(leak) for leak in leaks}))
    assert len(leak_watch.secrets) >= 8 and files > 0

"""Leak scan over two BRMS instances (issue 13): every instance's PAT and every token it
minted, nowhere in plain text (backend files: stacks, history, backups; Pulumi home, stack
config files, localbrms logs; CLI output of successful and failing runs, which carries the
provider's stderr). The conftest's autouse scan checks this test's folder again at teardown.

Also pins what the engine stores of `gorules:instances` in the default provider's state:
the whole map, encrypted, because one of its leaves is a secret.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest

from reliability._harness import entry, evaluate_status, live_tokens, seed_project
from support import state

from .conftest import start_brms

pytestmark = pytest.mark.engine


def test_no_pat_of_any_instance_in_plain_text(token_stack, seeded, brms, leak_watch, tmp_path: Path) -> None:
    eu = start_brms(tmp_path / "eu", leak_watch)
    try:
        seeded_eu = seed_project(eu, leak_watch)
        home_env = {e["key"]: e["id"] for e in seeded["environments"]}
        eu_env = {e["key"]: e["id"] for e in seeded_eu["environments"]}

        def configure(version: str) -> None:
            driver.configure([
                entry(seeded["projectId"], home_env["staging"], "home", keepers={"v": version}),
                entry(seeded_eu["projectId"], eu_env["staging"], "eu-staging", instance="eu", revokeOnDelete=True,
                      keepers={"v": version}),
                entry(seeded_eu["projectId"], eu_env["production"], "eu-production", instance="eu"),
            ])

        driver = token_stack([])
        driver.env(GORULES_RETRY_ATTEMPTS="2", GORULES_RETRY_DEADLINE="5")
        driver.ts.set_instance("eu", eu)
        configure("1")
        driver.up()

        checkpoint = state.stack_checkpoint(driver.ts.engine.backend, "gorules-tokens", "test")
        default_provider = next(r for r in state.resources(checkpoint) if r["type"] == "pulumi:providers:pulumi-python")
        stored = default_provider["inputs"]["gorules:instances"]
        assert isinstance(stored, dict) and "ciphertext" in stored, "gorules:instances must be stored encrypted"

        # A wrong PAT for eu fails the up (its output is scanned), then the right one rotates.
        wrong = "pat-eu-wrong-" + secrets.token_urlsafe(24)
        leak_watch.secret(wrong, "wrong eu PAT")
        driver.ts.set_instance("eu", eu, pat=wrong)
        configure("2")
        assert "401" in driver.fails("up")
        driver.ts.set_instance("eu", eu)
        driver.up()

        # An outage of eu (the provider's stderr carries the errors), then back.
        eu.stop()
        configure("3")
        driver.fails("up", continue_on_error=True)
        eu.start()
        driver.up()
        driver.refresh()

        live_tokens(brms, seeded["projectId"], leak_watch)
        live = live_tokens(eu, seeded_eu["projectId"], leak_watch)
        for args in (("stack", "output", "--stack", "test"), ("stack", "history", "--stack", "test"),
                     ("config", "--stack", "test")):
            shown = driver.ts.engine.cli(*args, cwd=driver.ts.work_dir)
            leak_watch.text("pulumi " + " ".join(args[:2]), shown.stdout + shown.stderr)
        driver.destroy()
        assert evaluate_status(eu, seeded_eu["projectId"], eu_env["staging"], live[eu_env["staging"]]) == 401

        leaks = leak_watch.scan(roots=[tmp_path])
        assert not leaks, "secrets in plain text:\n  " + "\n  ".join(sorted({str(leak) for leak in leaks}))
        assert {brms.pat, eu.pat, wrong} <= set(leak_watch.secrets)
        raw = json.dumps(checkpoint)
        assert eu.pat not in raw and brms.pat not in raw
    finally:
        eu.stop()

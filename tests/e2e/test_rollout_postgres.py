"""The rollout on a real PostgreSQL state backend (the pinned CLI's `postgres://` DIY
backend), the token stack and its consumers being different projects sharing it."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.brms import config_entry, new_token_stack, requests_made
from support.postgres import database_of
from support.rollout import declare_consumers, gorules_tokens, new_consumer

pytestmark = pytest.mark.engine


def test_rollout_and_status_on_a_shared_postgres_backend(pg_engine, postgres_server, brms, seeded,
                                                         tmp_path: Path) -> None:
    def environments(rotation: str) -> list:
        return [config_entry(seeded, "staging", keepers={"rotation": rotation}), config_entry(seeded, "production")]

    token = new_token_stack(pg_engine, brms, tmp_path, environments("1"))
    shop = new_consumer(pg_engine, token, seeded, tmp_path / "shop", "shop", "staging")
    billing = new_consumer(pg_engine, token, seeded, tmp_path / "billing", "billing", "production")
    declare_consumers(token, [{"dir": "../shop", "stack": "shop", "uses": ["staging"]},
                              {"dir": "../billing", "stack": "billing", "uses": ["production"]}])

    first = gorules_tokens(pg_engine, token, "rollout", json_file=tmp_path / "first.json")
    assert first.code == 0, first.output
    assert gorules_tokens(pg_engine, token, "status").code == 0
    billing_updates = billing.updates()

    token.configure(environments("2"))
    brms.reset_metrics()
    second = gorules_tokens(pg_engine, token, "rollout", json_file=tmp_path / "second.json")
    assert second.code == 0, second.output
    assert requests_made(brms, "regenerate-token", "POST") == 1
    assert [t["entry"] for t in second.report["rotated"]] == ["staging"]
    assert {c["label"]: c["outcome"] for c in second.report["consumers"]} == {
        "../shop:shop": "updated", "../billing:billing": "not-affected"}
    assert billing.updates() == billing_updates
    assert shop.exported() == {"staging": token.fingerprints()["staging"]}
    app = shop.app()
    assert app.returncode == 0, app.stdout + app.stderr
    status = gorules_tokens(pg_engine, token, "status", json_file=tmp_path / "status.json")
    assert status.code == 0 and {c["status"] for c in status.report["consumers"]} == {"current"}

    # Every stack lives in that database, and no token is in clear in any row.
    rows = postgres_server.rows(database_of(pg_engine.backend_url))
    keys = [key for key, _ in rows]
    for project, stack in (("gorules-tokens", "test"), ("gorules-consumer", "shop"), ("gorules-consumer", "billing")):
        assert any(key.endswith(f".pulumi/stacks/{project}/{stack}.json") for key in keys), keys
    tokens = list(token.tokens().values())
    assert all(t not in blob for _, blob in rows for t in tokens)
    assert all(t not in run.output for run in (first, second, status) for t in tokens)

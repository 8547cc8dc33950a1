"""`gorules-tokens rollout` of an Agent-served (`deployment`) environment, through the real
engine: the Agent's release is redeployed only after the consumer handed {current, previous}
to its app, so a two-token app calling the Agent listener all along sees no failed call, with
the Agent's own poll timer (no hold) over three rotations."""

from __future__ import annotations

import secrets
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest
from pulumi import automation as auto

from gorules_tokens_localbrms.testing import LocalBRMSServer
from support.brms import config_entry
from support.rollout import CONSUMER_PROGRAM, declare_consumers, gorules_tokens, new_consumer

sys.path.insert(0, str(CONSUMER_PROGRAM))
from app_loop import AppLoop  # noqa: E402

pytestmark = [pytest.mark.engine, pytest.mark.long]

POLL_S = 3.0  # longer than a consumer's hand-off on a quiet machine: an early switch would show


@pytest.fixture
def brms(tmp_path: Path) -> Iterator[LocalBRMSServer]:
    with LocalBRMSServer(tmp_path / "brms.db", pat="pat-" + secrets.token_urlsafe(24),
                         agent_poll_interval=POLL_S) as server:
        yield server


def test_two_token_apps_of_an_agent_see_no_failed_call_across_three_rollouts(engine, token_stack, seeded, brms,
                                                                             tmp_path: Path) -> None:
    token = token_stack([config_entry(seeded, "production")])
    consumer = new_consumer(engine, token, seeded, tmp_path / "shop", "shop", "production")
    consumer.stack.set_config("gorules-consumer:agentUrl", auto.ConfigValue(brms.agent_url))
    declare_consumers(token, [{"dir": "../shop", "stack": "shop", "uses": ["production"]}])
    assert gorules_tokens(engine, token, "rollout").code == 0
    brms.wait_for_agent_poll()
    with AppLoop(consumer.app_config, interval=0.05) as app:
        for rotation in range(3):
            run = gorules_tokens(engine, token, "rollout", "--rotate", "production",
                                 json_file=tmp_path / f"r{rotation}.json")
            assert run.code == 0, run.output
            assert run.report["agentsSwitched"] == ["production"], run.output
            assert [c["outcome"] for c in run.report["consumers"]] == ["updated"]
            brms.wait_for_agent_poll()
            time.sleep(0.5)
    calls = list(app.calls)
    refused = [(moment, status) for moment, status in calls if status != 200]
    assert refused == [], f"{len(refused)} of {len(calls)} calls failed"
    assert len(calls) > 100
    assert consumer.exported() == {"production": token.fingerprints()["production"]}

"""Two-token apps of an Agent-served environment across rotations, through the real engine.

The token stack rotates `production` (a `deployment` environment: regenerate, then redeploy),
the consumer stack of `examples/consumer/` hands {current, previous} to its app, and the app
(`examples/consumer/app.py`, in an `AppLoop`) evaluates on localbrms's Agent listener, trying
the current token and, on a 401, the previous one. The Agent polls its storage every
`POLL_S` seconds and switches tokens only at a poll (see /work/shared/reference/agent-cutover.md):

- the consumer hands off before the Agent's poll: the two-token app sees no failed call, while
  an app holding only the current token is refused from the hand-off to the poll;
- the Agent polls before the hand-off: the two-token app is refused from the poll until the
  consumer has handed the new tokens on.

The order is made certain with `agent_held()` (no scheduled poll inside the block), so neither
outcome depends on how fast the machine is.
"""

from __future__ import annotations

import json
import secrets
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest
from pulumi import automation as auto

from gorules_tokens_localbrms.testing import LocalBRMSServer
from support.brms import TokenStack, config_entry, quiet
from support.rollout import CONSUMER_PROGRAM, ConsumerStack, new_consumer

sys.path.insert(0, str(CONSUMER_PROGRAM))
from app import evaluate_url  # noqa: E402  (the example app, as its loop imports it)
from app_loop import AppLoop  # noqa: E402

pytestmark = [pytest.mark.engine, pytest.mark.long, pytest.mark.timeout(900)]

POLL_S = 3.0  # long enough that a hand-off fits between a redeploy and the Agent's poll, or not
INTERVAL_S = 0.05
CONTEXT = {"weight": 3, "country": "US"}


@pytest.fixture
def brms(tmp_path: Path) -> Iterator[LocalBRMSServer]:
    """The e2e localbrms, with an Agent that polls every `POLL_S` seconds (tests default to 1 s)."""
    with LocalBRMSServer(tmp_path / "brms.db", pat="pat-" + secrets.token_urlsafe(24),
                         agent_poll_interval=POLL_S) as server:
        yield server


class CurrentTokenOnly(AppLoop):
    """The same app, holding only the current token (what every app did before)."""

    def _call(self) -> int:
        try:
            settings = json.loads(self.config_path.read_text())
            assert self._client is not None
            return self._client.post(evaluate_url(settings), json={"context": CONTEXT},
                                     headers={"X-Access-Token": settings["accessToken"]}).status_code
        except (httpx.HTTPError, OSError, ValueError, KeyError):
            return 0


def failed(loop: AppLoop, since: float = 0.0, until: float = float("inf")) -> list[tuple[float, int]]:
    return [(moment, status) for moment, status in list(loop.calls) if status != 200 and since <= moment < until]


def entries(seed: dict[str, Any], rotation: str) -> list[dict[str, Any]]:
    return [config_entry(seed, "production", keepers={"rotation": rotation})]


def deployed(engine, token_stack, seeded, brms, tmp_path: Path) -> tuple[TokenStack, ConsumerStack]:
    """The token stack of `production` and the example consumer, pointing its app at the Agent,
    both up, and the Agent serving what they deployed."""
    token = token_stack(entries(seeded, "1"))
    token.up()
    consumer = new_consumer(engine, token, seeded, tmp_path / "consumer", "app", "production")
    consumer.stack.set_config("gorules-consumer:agentUrl", auto.ConfigValue(brms.agent_url))
    consumer.stack.up(on_output=quiet)
    brms.wait_for_agent_poll()
    return token, consumer


def app_file(consumer: ConsumerStack) -> dict[str, Any]:
    return json.loads(consumer.app_config.read_text())


def test_the_consumer_hands_off_before_the_agent_polls_and_the_two_token_app_never_fails(
    engine, token_stack, seeded, brms, tmp_path: Path
) -> None:
    token, consumer = deployed(engine, token_stack, seeded, brms, tmp_path)
    first = app_file(consumer)
    assert first["previousAccessToken"] and first["previousAccessToken"] != first["accessToken"]
    assert brms.agent_evaluate(seeded["projectId"], first["accessToken"]).status_code == 200

    handed: list[dict[str, Any]] = []
    with AppLoop(consumer.app_config, interval=INTERVAL_S) as two_tokens, \
            CurrentTokenOnly(consumer.app_config, interval=INTERVAL_S) as one_token:
        for rotation in ("2", "3", "4"):
            before = app_file(consumer)["accessToken"]
            with brms.agent_held():  # the Agent cannot switch before the hand-off
                token.configure(entries(seeded, rotation))
                token.up()
                consumer.stack.up(on_output=quiet)
                now = app_file(consumer)
                assert now["previousAccessToken"] == before != now["accessToken"]
                handed.append(now)
                time.sleep(0.5)  # the apps call on while the Agent still serves the old release
            brms.wait_for_agent_poll()
            time.sleep(0.5)
    calls = list(two_tokens.calls)

    assert failed(two_tokens) == [], f"{len(failed(two_tokens))} of {len(calls)} calls failed"
    assert len(calls) > 100  # it called all along: three rotations of a token stack and a consumer
    # The same rotations with one token: refused between each hand-off and the Agent's poll.
    assert len(failed(one_token)) >= 3 * 5 and {status for _, status in failed(one_token)} == {401}
    # Both tokens of the last hand-off are what the Agent accepts now and before its last poll.
    assert brms.agent_evaluate(seeded["projectId"], handed[-1]["accessToken"]).status_code == 200
    assert brms.agent_evaluate(seeded["projectId"], handed[-1]["previousAccessToken"]).status_code == 401
    assert token.masked_outputs()["previousAccessTokens"] == "[secret]"
    assert consumer.exported() == {"production": token.fingerprints()["production"]}


def test_when_the_agent_polls_before_the_hand_off_the_two_token_app_fails_until_it(
    engine, token_stack, seeded, brms, tmp_path: Path
) -> None:
    token, consumer = deployed(engine, token_stack, seeded, brms, tmp_path)
    with AppLoop(consumer.app_config, interval=INTERVAL_S) as two_tokens:
        with brms.agent_held():
            token.configure(entries(seeded, "2"))
            token.up()
        brms.wait_for_agent_poll()  # the Agent switched to a token no app holds yet
        switched = time.time()
        time.sleep(0.5)
        consumer.stack.up(on_output=quiet)
        handed_off = time.time()
        time.sleep(0.5)

    refused = failed(two_tokens)
    assert len(refused) >= 5 and {status for _, status in refused} == {401}
    # Every refusal falls between the Agent's switch and the end of the consumer's `up`; the
    # first call after the switch was already refused, the app is served again after the hand-off.
    assert all(switched - 1.0 <= moment < handed_off for moment, _ in refused)
    assert failed(two_tokens, since=handed_off) == []
    after_switch = [status for moment, status in two_tokens.calls if switched <= moment < handed_off]
    assert after_switch and after_switch[0] == 401

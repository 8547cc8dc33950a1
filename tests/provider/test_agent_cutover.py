"""The provider's rotation of a `deployment` environment as an Agent sees it: the redeploy
lands at once, the Agent switches tokens only at its next storage poll."""

from __future__ import annotations

import pytest

from gorules_tokens.process import ProcessState
from gorules_tokens.provider import EnvironmentTokenProvider
from gorules_tokens.retry import RetryPolicy
from gorules_tokens_localbrms.testing import LocalBRMSServer
from support.provider_calls import checked_props

POLL_S = 3.0
pytestmark = pytest.mark.timeout(90)


def test_agent_accepts_the_new_token_one_poll_after_the_redeploy(tmp_path, monkeypatch) -> None:
    with LocalBRMSServer(tmp_path / "brms.db", agent_poll_interval=POLL_S) as brms:
        seeded = brms.seed()
        prod = next(e for e in seeded["environments"] if e["key"] == "production")
        monkeypatch.setenv("GORULES_URL", brms.url)
        monkeypatch.setenv("GORULES_TOKEN", brms.pat)
        state = ProcessState(policy=RetryPolicy(max_attempts=2, deadline=20.0, initial_backoff=0.01))
        try:
            brms.wait_for_agent_poll()  # the Agent has loaded the seeded project
            with brms.agent_held():  # no poll in here, however slow the machine
                outs = EnvironmentTokenProvider(state=state).create(checked_props(seeded["projectId"], prod["id"])).outs
                old, new = prod["accessToken"], outs["access_token"]
                assert outs["redeploy_status"] == "deployed"
                # the rotation is done, but the Agent still serves the artifact it loaded before it
                assert brms.agent_evaluate(seeded["projectKey"], old).status_code == 200
                assert brms.agent_evaluate(seeded["projectKey"], new).status_code == 401
            brms.wait_for_agent_poll()  # the first poll after the deploy (bounded wait)
            assert brms.agent_evaluate(seeded["projectKey"], new).status_code == 200
            assert brms.agent_evaluate(seeded["projectKey"], old).status_code == 401
        finally:
            state.close()

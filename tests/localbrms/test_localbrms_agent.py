"""The Agent model: ``deployment`` environments accept the tokens baked into the last deploy."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conftest import Demo


def test_agent_keeps_old_token_until_redeploy(demo: Demo) -> None:
    prod = demo.production
    old = prod["accessToken"]
    assert demo.evaluate(prod["id"], old, via="agent").status_code == 200

    new = demo.regenerate(prod["id"]).json()["accessToken"]
    # BRMS itself switches at once ...
    assert demo.evaluate(prod["id"], old).status_code == 401
    assert demo.evaluate(prod["id"], new).status_code == 200
    # ... the Agent still serves the artifact holding the old token
    assert demo.evaluate(prod["id"], old, via="agent").status_code == 200
    rejected = demo.evaluate(prod["id"], new, via="agent")
    assert rejected.status_code == 401
    assert rejected.json()["message"] == "Invalid X-Access-Token Header"

    assert demo.deploy(prod["id"]).json()["status"] == "deployed"
    assert demo.evaluate(prod["id"], new, via="agent").status_code == 200
    assert demo.evaluate(prod["id"], old, via="agent").status_code == 401


def test_agent_result_and_not_found(demo: Demo) -> None:
    prod = demo.production
    ok = demo.evaluate(prod["id"], prod["accessToken"], via="agent", context={"weight": 0.2, "country": "US"})
    assert ok.json()["result"] == {"fee": 5}
    assert ok.headers["X-Release-Id"] == demo.release_id
    by_key = demo.evaluate(prod["id"], prod["accessToken"], via="agent", project_ref=demo.data["projectKey"])
    assert by_key.status_code == 200
    # virtual (brms) environments are not served by an Agent
    assert demo.evaluate(demo.staging["id"], demo.staging["accessToken"], via="agent").status_code == 404
    assert demo.evaluate(str(uuid.uuid4()), prod["accessToken"], via="agent").status_code == 404
    assert (
        demo.evaluate(prod["id"], prod["accessToken"], via="agent", project_ref=str(uuid.uuid4())).status_code
        == 404
    )
    assert demo.evaluate(prod["id"], None, via="agent").status_code == 401

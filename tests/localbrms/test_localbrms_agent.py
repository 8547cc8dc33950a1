"""The Agent listener: its own port, GoRules' two route families with their error bodies, the
tokens of the artifact it last loaded, and a new deploy picked up only at the next poll."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from gorules_tokens_localbrms.testing import LocalBRMSServer

if TYPE_CHECKING:
    from conftest import Demo

SLOW_POLL_S = 3.0


@pytest.fixture(scope="module")
def slow_agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBRMSServer]:
    db = tmp_path_factory.mktemp("agent") / "brms.db"
    with LocalBRMSServer(db, agent_poll_interval=SLOW_POLL_S) as server:
        yield server


@pytest.fixture
def loaded(demo: Demo) -> Demo:
    """A fresh demo project, once the Agent's poll has loaded its artifact."""
    demo.server.wait_for_agent_poll()
    return demo


def _deploy(server: LocalBRMSServer, seeded: dict, env_id: str) -> httpx.Response:
    return httpx.post(
        f"{server.url}/api/projects/{seeded['projectId']}/releases/deploy",
        json={"releaseId": seeded["releaseId"], "environmentId": env_id},
        headers={"Authorization": f"Bearer {server.pat}"},
        timeout=30,
    )


def _regenerate(server: LocalBRMSServer, seeded: dict, env_id: str) -> str:
    response = httpx.post(
        f"{server.url}/api/projects/{seeded['projectId']}/environments/{env_id}/regenerate-token",
        headers={"Authorization": f"Bearer {server.pat}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return str(response.json()["accessToken"])


@pytest.mark.parametrize("rules", [False, True], ids=["legacy", "rules"])
def test_old_token_accepted_until_the_poll_loads_the_redeployed_release(
    slow_agent: LocalBRMSServer, rules: bool
) -> None:
    seeded = slow_agent.seed()
    prod = next(e for e in seeded["environments"] if e["key"] == "production")
    project, old = seeded["projectKey"], prod["accessToken"]
    slow_agent.wait_for_agent_poll()
    assert slow_agent.agent_evaluate(project, old, rules=rules).status_code == 200

    new = _regenerate(slow_agent, seeded, prod["id"])
    # No deploy yet: the artifact still lists the old token, whatever the polls do.
    slow_agent.wait_for_agent_poll()
    assert slow_agent.agent_evaluate(project, old, rules=rules).status_code == 200
    assert slow_agent.agent_evaluate(project, new, rules=rules).status_code == 401

    with slow_agent.agent_held():  # no poll in here, however slow the machine
        assert _deploy(slow_agent, seeded, prod["id"]).json()["status"] == "deployed"
        # BRMS switched at once; the Agent still serves what it loaded before the deploy.
        assert slow_agent.agent_evaluate(project, old, rules=rules).status_code == 200
        assert slow_agent.agent_evaluate(project, new, rules=rules).status_code == 401

    slow_agent.wait_for_agent_poll()  # the first poll after the deploy (bounded wait)
    assert slow_agent.agent_evaluate(project, new, rules=rules).status_code == 200
    assert slow_agent.agent_evaluate(project, old, rules=rules).status_code == 401


def test_cut_over_happens_within_one_poll_interval(demo: Demo) -> None:
    server = demo.server
    prod = demo.production
    new = demo.regenerate(prod["id"]).json()["accessToken"]
    assert demo.deploy(prod["id"]).json()["status"] == "deployed"
    server.wait_for_agent_poll()  # one poll that started after the deploy (bounded wait)
    assert demo.evaluate(prod["id"], new, via="agent").status_code == 200


def test_legacy_route_answers_and_error_bodies(loaded: Demo) -> None:
    demo = loaded
    prod = demo.production
    token = prod["accessToken"]
    ok = demo.evaluate(prod["id"], token, via="agent", context={"weight": 0.2, "country": "US"})
    assert ok.status_code == 200, ok.text
    assert ok.json()["result"] == {"fee": 5}
    assert ok.json()["details"] == {"releaseId": demo.release_id, "versionId": None}
    by_id = demo.evaluate(prod["id"], token, via="agent", project_ref=demo.project_id)
    assert by_id.status_code == 200

    unknown = demo.evaluate(prod["id"], token, via="agent", project_ref="no-such-project")
    assert (unknown.status_code, unknown.json()) == (404, {"message": "Project not found"})
    # project before token: an unknown project is 404 even without a token
    assert demo.evaluate(prod["id"], None, via="agent", project_ref=str(uuid.uuid4())).status_code == 404
    for bad in (None, "", token + "x", demo.staging["accessToken"]):
        denied = demo.evaluate(prod["id"], bad, via="agent")
        assert (denied.status_code, denied.json()) == (401, {"message": "Invalid X-Access-Token Header"})
    # A missing decision is the engine's loader error, named as the Agent names it.
    missing = demo.evaluate(prod["id"], token, via="agent", key="nothing-here")
    assert (missing.status_code, missing.json()) == (400, {"message": "Loader error"})
    # The Agent looks a decision up by its path in the zip, lower-cased and nothing else: the
    # decision `shipping` is the entry `shipping`, so `shipping.json` is not found.
    assert demo.evaluate(prod["id"], token, via="agent", key="SHIPPING").status_code == 200
    suffixed = demo.evaluate(prod["id"], token, via="agent", key="shipping.json")
    assert (suffixed.status_code, suffixed.json()) == (400, {"message": "Loader error"})


def test_rules_route_answers_and_error_bodies(loaded: Demo) -> None:
    demo = loaded
    prod = demo.production
    token = prod["accessToken"]
    ok = demo.evaluate(prod["id"], token, via="agent-rules")
    assert ok.status_code == 200, ok.text
    body = ok.json()
    assert body["result"] == {"fee": 10}
    assert ok.headers["X-Release-Id"] == demo.release_id
    assert body["meta"]["type"] == "environment" and body["meta"]["path"] == "shipping"
    assert body["meta"]["project"]["key"] == demo.data["projectKey"]
    assert body["meta"]["release"]["id"] == demo.release_id
    assert body["meta"]["environment"] == {"id": prod["id"], "key": "production", "name": "Production"}

    unknown = demo.evaluate(prod["id"], token, via="agent-rules", project_ref="no-such-project")
    assert (unknown.status_code, unknown.json()) == (404, {"code": "project.notFound"})
    denied = demo.evaluate(prod["id"], token + "x", via="agent-rules")
    assert (denied.status_code, denied.json()) == (401, {"code": "unauthorized"})
    missing = demo.evaluate(prod["id"], token, via="agent-rules", key="nothing-here")
    assert missing.status_code == 400
    assert missing.json() == {"code": "documents.invalid", "details": "File not found", "key": "nothing-here"}


def test_virtual_environments_are_not_in_the_agents_storage(brms: LocalBRMSServer, api: httpx.Client) -> None:
    """Only deploys to an environment whose Deployment is the Agent's storage reach it."""
    project = api.post("/api/projects", json={"name": "Virtual only", "key": f"virt-{uuid.uuid4().hex[:8]}"})
    assert project.status_code == 201, project.text
    pid, key = project.json()["id"], project.json()["key"]
    env = api.post(f"/api/projects/{pid}/environments", json={"name": "Staging", "type": "brms"})
    release = api.post(f"/api/projects/{pid}/releases", json={})
    assert env.status_code == 201 and release.status_code == 201, (env.text, release.text)
    deployed = api.post(f"/api/projects/{pid}/releases/deploy",
                        json={"releaseId": release.json()["id"], "environmentId": env.json()["id"]})
    assert deployed.json()["status"] == "deployed"
    brms.wait_for_agent_poll()
    assert brms.agent_evaluate(key, env.json()["accessToken"]).status_code == 404
    assert key not in {p["key"] for p in brms.agent_status()["projects"]}


def test_agent_is_a_separate_listener(loaded: Demo) -> None:
    demo = loaded
    server = demo.server
    assert server.agent_url != server.url
    # BRMS management routes do not exist on the Agent, and the Agent's routes not on BRMS.
    on_agent = httpx.get(f"{server.agent_url}/api/projects/{demo.project_id}/environments", timeout=10)
    assert on_agent.status_code in (404, 405) and on_agent.text == ""
    on_brms = httpx.post(
        f"{server.url}/api/projects/{demo.data['projectKey']}/evaluate/shipping",
        json={"context": {}}, headers={"X-Access-Token": demo.production["accessToken"]}, timeout=10,
    )
    assert on_brms.status_code != 200
    health = httpx.get(f"{server.agent_url}/api/health", timeout=10)
    assert (health.status_code, health.text) == (200, "healthy")  # plain text, as the Agent answers
    assert httpx.get(f"{server.agent_url}/api/version", timeout=10).text == "unknown"


def test_agent_keeps_serving_after_the_environment_is_deleted(loaded: Demo) -> None:
    demo = loaded
    prod = demo.production
    assert demo.client.delete(demo.envs_path(prod["id"])).status_code == 200
    demo.server.wait_for_agent_poll()
    assert demo.evaluate(prod["id"], prod["accessToken"], via="agent").status_code == 200


def test_cli_agent_flags(tmp_path: Path) -> None:
    with LocalBRMSServer(tmp_path / "b.db", agent_poll_interval=0.25) as server:
        status = server.agent_status()
        assert status["pollInterval"] == 0.25 and status["deployment"] == "localbrms-agent"
    with LocalBRMSServer(tmp_path / "c.db", agent=False) as server:
        with pytest.raises(Exception, match="no Agent listener"):
            _ = server.agent_url

"""Releases: list, create and deploy; approval modes answer with a change request."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from gorules_tokens_localbrms.testing import LocalBRMSServer

if TYPE_CHECKING:
    from conftest import Demo


def _new_release(demo: Demo) -> str:
    response = demo.client.post(f"/api/projects/{demo.project_id}/releases", json={"name": "Second"})
    assert response.status_code == 201, response.text
    release = response.json()
    assert release["version"] == 2 and release["semanticVersion"] == "2.0.0"
    return str(release["id"])


def test_list_releases(demo: Demo) -> None:
    _new_release(demo)
    body = demo.client.get(f"/api/projects/{demo.project_id}/releases").json()
    assert [r["version"] for r in body["results"]] == [2, 1]
    assert body["paginate"]["total"] == 2


def test_deploy_switches_the_release(demo: Demo) -> None:
    release_id = _new_release(demo)
    response = demo.deploy(demo.staging["id"], release_id)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["status"] == "deployed"
    assert answer["environmentId"] == demo.staging["id"] and answer["releaseId"] == release_id
    staging = next(e for e in demo.list_envs() if e["id"] == demo.staging["id"])
    assert staging["releaseId"] == release_id and staging["release"]["version"] == 2
    evaluated = demo.evaluate(demo.staging["id"], demo.staging["accessToken"])
    assert evaluated.headers["X-Release-Id"] == release_id


def test_deploy_with_approval_opens_a_change_request(demo: Demo, brms: LocalBRMSServer) -> None:
    env_id = demo.staging["id"]
    assert (
        demo.client.put(demo.envs_path(env_id), json={"approvalMode": "require_one_per_team"}).status_code
        == 200
    )
    release_id = _new_release(demo)
    response = demo.deploy(env_id, release_id)
    assert response.status_code == 200
    cr = response.json()
    assert cr["status"] == "open" and cr["type"] == "deployment"
    assert cr["environmentId"] == env_id and cr["releaseId"] == release_id and cr["comment"] == "test"
    uuid.UUID(cr["id"])
    staging = next(e for e in demo.list_envs() if e["id"] == env_id)
    assert staging["releaseId"] == demo.release_id  # not deployed yet
    assert [c["id"] for c in staging["changeRequests"]] == [cr["id"]]
    approved = brms.approve_change_request(cr["id"])
    assert approved["status"] == "deployed" and approved["changeRequestId"] == cr["id"]
    staging = next(e for e in demo.list_envs() if e["id"] == env_id)
    assert staging["releaseId"] == release_id and staging["changeRequests"] == []


def test_deploy_errors(demo: Demo, brms: LocalBRMSServer) -> None:
    other = brms.seed()
    assert demo.deploy(demo.staging["id"], other["releaseId"]).status_code == 404
    assert demo.deploy(demo.staging["id"], str(uuid.uuid4())).status_code == 404
    assert demo.deploy(str(uuid.uuid4())).status_code == 404
    assert demo.deploy("not-a-uuid").status_code == 400
    path = f"/api/projects/{demo.project_id}/releases/deploy"
    assert demo.client.post(path, json={"environmentId": demo.staging["id"]}).status_code == 400
    assert (
        demo.client.post(
            f"/api/projects/{uuid.uuid4()}/releases/deploy",
            json={"releaseId": demo.release_id, "environmentId": demo.staging["id"]},
        ).status_code
        == 404
    )

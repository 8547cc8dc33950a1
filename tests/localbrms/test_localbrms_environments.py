"""Environments: list, create, update, soft delete and token regeneration."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from conftest import Demo


def test_list_shape_matches_documented_fields(demo: Demo, regenerate_validators, list_item_validator) -> None:  # type: ignore[no-untyped-def]
    envs = demo.list_envs()
    assert isinstance(envs, list)
    assert [e["key"] for e in envs] == ["staging", "production"]
    for env in envs:
        list_item_validator.validate(env)
        for validator in regenerate_validators:
            validator.validate(env)
        assert env["release"]["id"] == demo.release_id
        assert env["project"]["id"] == demo.project_id
        assert len(env["accessToken"]) >= 32
    production = envs[1]
    assert production["type"] == "deployment" and production["deployment"]["id"] == production["deploymentId"]
    assert envs[0]["type"] == "brms" and envs[0]["deployment"] is None


def test_create_environment(demo: Demo, list_item_validator) -> None:  # type: ignore[no-untyped-def]
    body = {
        "name": "QA Env",
        "type": "brms",
        "approvalMode": "none",
        "addToWorkflow": True,
        "workflowOrder": 3,
    }
    response = demo.client.post(demo.envs_path(), json=body)
    assert response.status_code == 201, response.text
    env = response.json()
    list_item_validator.validate(env)
    assert env["key"] == "qa-env"  # defaulted from the name
    assert env["release"] is None and env["releaseId"] is None
    assert env["addToWorkflow"] is True and env["workflowOrder"] == 3
    assert "deletedAt" in env and env["metadata"] == {}
    tokens = {e["accessToken"] for e in demo.list_envs()}
    assert env["accessToken"] in tokens and len(tokens) == 3


def test_create_environment_errors(demo: Demo) -> None:
    assert (
        demo.client.post(demo.envs_path(), json={"name": "x", "type": "brms", "key": "staging"}).status_code
        == 409
    )
    assert demo.client.post(demo.envs_path(), json={"type": "brms"}).status_code == 400
    assert demo.client.post(demo.envs_path(), json={"name": "x", "type": "cloud"}).status_code == 400
    assert (
        demo.client.post(
            demo.envs_path(), json={"name": "x", "type": "brms", "approvalMode": "bogus"}
        ).status_code
        == 400
    )
    bad_dep = {"name": "x", "type": "deployment", "deploymentId": str(uuid.uuid4())}
    assert demo.client.post(demo.envs_path(), json=bad_dep).status_code == 400
    raw = demo.client.post(demo.envs_path(), content=b"{", headers={"content-type": "application/json"})
    assert raw.status_code == 400
    unknown = demo.client.post(
        f"/api/projects/{uuid.uuid4()}/environments", json={"name": "x", "type": "brms"}
    )
    assert unknown.status_code == 404


def test_update_environment(demo: Demo) -> None:
    env = demo.staging
    response = demo.client.put(
        demo.envs_path(env["id"]),
        json={"name": "Stage 2", "key": "stage-2", "approvalMode": "require_any", "type": "brms"},
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["name"] == "Stage 2" and updated["key"] == "stage-2"
    assert updated["approvalMode"] == "require_any" and updated["requiredReviewers"] is True
    assert updated["accessToken"] == env["accessToken"]  # update never rotates the token
    assert updated["updatedAt"] >= updated["createdAt"]
    # key clash with another environment
    clash = demo.client.put(demo.envs_path(env["id"]), json={"key": "production"})
    assert clash.status_code == 409
    assert demo.client.put(demo.envs_path(str(uuid.uuid4())), json={"name": "x"}).status_code == 404
    assert demo.client.put(demo.envs_path("nope"), json={"name": "x"}).status_code == 400
    assert demo.client.put(demo.envs_path(env["id"]), json={"approvalMode": "sometimes"}).status_code == 400


def test_delete_is_soft_and_kills_the_token(demo: Demo) -> None:
    env = demo.staging
    assert demo.evaluate(env["id"], env["accessToken"]).status_code == 200
    response = demo.client.delete(demo.envs_path(env["id"]))
    assert response.status_code == 200
    assert response.json() == {"id": env["id"]}
    assert [e["id"] for e in demo.list_envs()] == [demo.production["id"]]
    assert demo.evaluate(env["id"], env["accessToken"]).status_code == 401
    assert demo.client.delete(demo.envs_path(env["id"])).status_code == 404
    assert demo.regenerate(env["id"]).status_code == 404
    # the key is free again after a soft delete
    again = demo.client.post(demo.envs_path(), json={"name": "Staging", "key": "staging", "type": "brms"})
    assert again.status_code == 201


def test_regenerate_token(demo: Demo, regenerate_validators) -> None:  # type: ignore[no-untyped-def]
    env = demo.staging
    response = demo.regenerate(env["id"])
    assert response.status_code == 200, response.text
    body = response.json()
    for validator in regenerate_validators:
        validator.validate(body)
    assert set(body) == {
        "id",
        "name",
        "accessToken",
        "type",
        "key",
        "releaseId",
        "deploymentId",
        "projectId",
        "addToWorkflow",
        "workflowOrder",
        "requiredReviewers",
        "approvalMode",
        "createdAt",
        "updatedAt",
        "deletedAt",
    }
    assert body["id"] == env["id"] and body["releaseId"] == demo.release_id
    new = body["accessToken"]
    assert new != env["accessToken"] and len(new) >= 32
    # the old token stops working at once, the new one works
    assert demo.evaluate(env["id"], env["accessToken"]).status_code == 401
    assert demo.evaluate(env["id"], new).status_code == 200
    assert next(e for e in demo.list_envs() if e["id"] == env["id"])["accessToken"] == new


def test_regenerate_errors(demo: Demo) -> None:
    assert demo.regenerate(str(uuid.uuid4())).status_code == 404
    other = demo.client.post(
        f"/api/projects/{uuid.uuid4()}/environments/{demo.staging['id']}/regenerate-token"
    )
    assert other.status_code == 404
    malformed = demo.regenerate("not-a-uuid")
    assert malformed.status_code == 400
    assert set(malformed.json()) == {"statusCode", "error", "message"}


def test_tokens_never_echoed_in_errors(demo: Demo, anon: httpx.Client) -> None:
    token = demo.staging["accessToken"]
    responses = [
        anon.get(demo.envs_path(), headers={"Authorization": f"Bearer {token}"}),
        demo.evaluate(demo.staging["id"], token + "x"),
        demo.evaluate(str(uuid.uuid4()), token),
        demo.evaluate(demo.staging["id"], token, context={"weight": 1}, key="missing"),
    ]
    for response in responses:
        assert response.status_code >= 400
        assert token not in response.text

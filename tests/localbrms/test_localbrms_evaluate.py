"""Evaluation with X-Access-Token on the BRMS and Rules routes (zen-engine decisions)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import Demo


@pytest.mark.parametrize("via", ["brms", "rules"])
@pytest.mark.parametrize(
    ("context", "fee"),
    [
        ({"weight": 0.5, "country": "US"}, 5),
        ({"weight": 3, "country": "US"}, 10),
        ({"weight": 1, "country": "DE"}, 15),
        ({"weight": 9, "country": "DE"}, 25),
    ],
)
def test_decision_table(demo: Demo, via: str, context: dict[str, object], fee: int) -> None:
    env = demo.staging
    response = demo.evaluate(env["id"], env["accessToken"], via=via, context=context)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["result"] == {"fee": fee}
    assert isinstance(body["performance"], str)
    assert "trace" not in body
    assert response.headers["X-Release-Id"] == demo.release_id
    if via == "rules":
        assert body["meta"]["releaseId"] == demo.release_id


def test_ids_or_keys_and_json_suffix_and_trace(demo: Demo) -> None:
    env = demo.staging
    response = demo.evaluate(
        "staging", env["accessToken"], project_ref=demo.data["projectKey"], key="shipping.json", trace=True
    )
    assert response.status_code == 200, response.text
    trace = response.json()["trace"]
    assert {node["name"] for node in trace.values()} == {"Request", "Shipping fees", "Response"}


def test_bad_tokens_are_401(demo: Demo) -> None:
    staging, production = demo.staging, demo.production
    for token in (None, "", "wrong-token", production["accessToken"]):
        response = demo.evaluate(staging["id"], token)
        assert response.status_code == 401, token
        assert response.json()["message"] == "projectAccessToken.invalid"


def test_not_found_and_bad_bodies(demo: Demo) -> None:
    token = demo.staging["accessToken"]
    assert demo.evaluate(str(uuid.uuid4()), token).status_code == 404
    assert demo.evaluate(demo.staging["id"], token, project_ref=str(uuid.uuid4())).status_code == 404
    assert demo.evaluate(demo.staging["id"], token, key="no-such-decision").status_code == 404
    path = f"/api/projects/{demo.project_id}/environments/{demo.staging['id']}/evaluate/shipping"
    import httpx

    for body in ({"context": 5}, {"trace": True}, [1]):
        response = httpx.post(demo.server.url + path, json=body, headers={"X-Access-Token": token})
        assert response.status_code == 400, body
        assert response.json()["statusCode"] == 400


def test_environment_without_release(demo: Demo) -> None:
    created = demo.client.post(demo.envs_path(), json={"name": "Empty", "type": "brms"}).json()
    response = demo.evaluate(created["id"], created["accessToken"])
    assert response.status_code == 404

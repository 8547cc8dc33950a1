"""`/_localbrms/deploy-mode`: each undocumented deploy answer, and whether the deploy happens."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator

import httpx
import pytest

if TYPE_CHECKING:
    from conftest import Demo


@pytest.fixture(autouse=True)
def _reset_mode(brms: Any) -> Iterator[None]:
    yield
    brms.set_deploy_mode("current")


def _revision(demo: Demo) -> str:
    """The Agent's revision of the demo project after a fresh poll; a project the Agent has not
    loaded would make every before/after comparison pass vacuously, so it fails here."""
    demo.server.wait_for_agent_poll()
    found = [p for p in demo.server.agent_status()["projects"] if p["key"] == demo.data["projectKey"]]
    assert len(found) == 1, f"the Agent has not loaded project {demo.data['projectKey']}"
    revision = found[0]["revision"]
    assert revision, f"the Agent holds no revision of project {demo.data['projectKey']}"
    return str(revision)


@pytest.mark.parametrize(
    ("mode", "status", "content_type", "body"),
    [
        ("empty", 201, None, b""),
        ("empty-object", 200, "application/json", b"{}"),
        ("text", 200, "text/plain", b"Deployment initiated successfully"),
    ],
)
def test_fixed_answers_still_deploy(demo: Demo, mode: str, status: int, content_type: str | None, body: bytes) -> None:
    before = _revision(demo)
    assert demo.server.set_deploy_mode(mode) == {"mode": mode, "apply": True}
    response = demo.deploy(demo.production["id"])
    assert response.status_code == status and response.content == body
    if content_type:
        assert response.headers["content-type"].startswith(content_type)
    assert _revision(demo) != before  # the deploy happened behind the answer


def test_unknown_shape_and_apply_false(demo: Demo) -> None:
    before = _revision(demo)
    demo.server.set_deploy_mode("unknown", apply=False)
    response = demo.deploy(demo.production["id"])
    assert response.status_code == 202 and set(response.json()) == {"accepted", "jobId"}
    assert _revision(demo) == before  # nothing deployed
    assert all(e["changeRequests"] == [] for e in demo.list_envs())


def test_change_request_mode_opens_one_without_approvals(demo: Demo) -> None:
    demo.server.set_deploy_mode("change-request")
    answer = demo.deploy(demo.production["id"]).json()
    assert answer["status"] == "open" and answer["type"] == "deployment"
    prod = next(e for e in demo.list_envs() if e["id"] == demo.production["id"])
    assert prod["approvalMode"] in (None, "none") and [cr["id"] for cr in prod["changeRequests"]] == [answer["id"]]


def test_failure_mode_never_deploys(demo: Demo) -> None:
    before = _revision(demo)
    demo.server.set_deploy_mode("failure", apply=True)
    response = demo.deploy(demo.production["id"])
    assert response.status_code == 200 and response.json()["status"] == "failed"
    assert _revision(demo) == before


def test_mode_is_validated_and_readable(demo: Demo, api: httpx.Client) -> None:
    assert api.put("/_localbrms/deploy-mode", json={"mode": "nonsense"}).status_code == 400
    assert api.put("/_localbrms/deploy-mode", json={"mode": "empty", "extra": 1}).status_code == 400
    demo.server.set_deploy_mode("text", apply=False)
    assert api.get("/_localbrms/deploy-mode").json() == {"mode": "text", "apply": False}
    anon = httpx.put(demo.server.url + "/_localbrms/deploy-mode", json={"mode": "empty"}, timeout=10)
    assert anon.status_code == 401

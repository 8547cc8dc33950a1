"""Projects: paginated list, create, get one; BRMS-style errors for unknown routes."""

from __future__ import annotations

import secrets
import uuid

import httpx

from gorules_tokens_localbrms.testing import LocalBRMSServer


def _key() -> str:
    return f"pj-{secrets.token_hex(4)}"


def test_create_and_get_project(api: httpx.Client) -> None:
    key = _key()
    response = api.post("/api/projects", json={"name": "Pricing", "key": key})
    assert response.status_code == 201, response.text
    project = response.json()
    assert project["key"] == key and project["name"] == "Pricing" and project["protected"] is False
    for field in ("id", "organisationId", "version", "createdAt", "updatedAt", "deletedAt", "members"):
        assert field in project
    got = api.get(f"/api/projects/{project['id']}")
    assert got.status_code == 200
    assert got.json() == project


def test_duplicate_key_conflicts(api: httpx.Client) -> None:
    key = _key()
    assert api.post("/api/projects", json={"name": "a", "key": key}).status_code == 201
    response = api.post("/api/projects", json={"name": "b", "key": key})
    assert response.status_code == 409
    assert response.json()["statusCode"] == 409


def test_create_project_validation(api: httpx.Client) -> None:
    for body in ({"name": "x"}, {"name": "x", "key": "Bad Key"}, {"key": _key()}, [1, 2]):
        response = api.post("/api/projects", json=body)
        assert response.status_code == 400, body
        assert set(response.json()) == {"statusCode", "error", "message"}
    broken = api.post("/api/projects", content=b"{not json", headers={"content-type": "application/json"})
    assert broken.status_code == 400


def test_copy_content_ref(demo, api: httpx.Client) -> None:  # type: ignore[no-untyped-def]
    body = {"name": "Copy", "key": _key(), "copyContentRef": demo.project_id}
    response = api.post("/api/projects", json=body)
    assert response.status_code == 201
    missing = api.post("/api/projects", json={**body, "key": _key(), "copyContentRef": str(uuid.uuid4())})
    assert missing.status_code == 400


def test_list_is_paginated(api: httpx.Client) -> None:
    tag = secrets.token_hex(4)
    for i in range(3):
        assert api.post("/api/projects", json={"name": f"pg-{tag}-{i}", "key": _key()}).status_code == 201
    first = api.get("/api/projects", params={"search": f"pg-{tag}", "perPage": 2}).json()
    assert [p["name"] for p in first["results"]] == [f"pg-{tag}-0", f"pg-{tag}-1"]
    assert first["paginate"] == {"current": 1, "from": 1, "to": 2, "total": 3, "pageSize": 2}
    second = api.get("/api/projects", params={"search": f"pg-{tag}", "perPage": 2, "page": 2}).json()
    assert [p["name"] for p in second["results"]] == [f"pg-{tag}-2"]
    assert second["paginate"] == {"current": 2, "from": 3, "to": 3, "total": 3, "pageSize": 2}
    empty = api.get("/api/projects", params={"search": f"pg-{tag}", "page": 9}).json()
    assert empty["results"] == [] and empty["paginate"]["total"] == 3
    default = api.get("/api/projects").json()
    assert default["paginate"]["pageSize"] == 10 and len(default["results"]) <= 10


def test_list_query_validation(api: httpx.Client) -> None:
    assert api.get("/api/projects", params={"page": 0}).status_code == 400
    assert api.get("/api/projects", params={"perPage": "lots"}).status_code == 400
    assert api.get("/api/projects", params={"deleted": "maybe"}).status_code == 400
    assert api.get("/api/projects", params={"all": "TRUE", "deleted": "False"}).status_code == 200


def test_unknown_and_malformed_project(api: httpx.Client) -> None:
    missing = api.get(f"/api/projects/{uuid.uuid4()}")
    assert missing.status_code == 404
    assert missing.json() == {"statusCode": 404, "error": "Not Found", "message": "Project not found"}
    malformed = api.get("/api/projects/not-a-uuid")
    assert malformed.status_code == 400
    assert malformed.json()["error"] == "Bad Request"


def test_unknown_route_and_method_are_brms_style(brms: LocalBRMSServer, api: httpx.Client) -> None:
    response = api.get("/api/nothing-here")
    assert response.status_code == 404
    assert response.json() == {
        "statusCode": 404,
        "error": "Not Found",
        "message": "Route GET:/api/nothing-here not found",
    }
    response = api.delete("/api/projects")
    assert response.status_code == 405
    assert response.json()["statusCode"] == 405


def test_health_needs_no_auth(anon: httpx.Client) -> None:
    response = anon.get("/api/health")
    assert response.status_code == 200


def test_validation_messages_name_the_field_not_the_value(api: httpx.Client) -> None:
    response = api.get("/api/projects/zzzz-secret-looking-value")
    assert response.json()["message"] == "path.projectId: Input should be a valid UUID"
    response = api.post("/_localbrms/faults", json={"drop": True, "status": 500})
    assert "drop cannot be combined with status or retryAfter" in response.json()["message"]

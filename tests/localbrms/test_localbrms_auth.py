"""PAT authentication (401) and the permission model (403)."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

import httpx
import pytest

from gorules_tokens_localbrms.testing import LocalBRMSServer

if TYPE_CHECKING:
    from conftest import Demo


def _as(brms: LocalBRMSServer, token: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=brms.url, headers=headers, timeout=30)


@pytest.mark.parametrize("header", [None, "Bearer", "Basic abc", "Bearer not-a-real-token"])
def test_missing_or_unknown_pat_is_401(demo: Demo, brms: LocalBRMSServer, header: str | None) -> None:
    headers = {"Authorization": header} if header is not None else {}
    with httpx.Client(base_url=brms.url, headers=headers, timeout=30) as client:
        for method, path in [
            ("GET", "/api/projects"),
            ("GET", demo.envs_path()),
            ("POST", demo.envs_path(demo.staging["id"]) + "/regenerate-token"),
            ("DELETE", demo.envs_path(demo.staging["id"])),
            ("GET", "/_localbrms/metrics"),
        ]:
            response = client.request(method, path)
            assert response.status_code == 401, (method, path)
            assert response.json()["statusCode"] == 401


def test_401_comes_before_validation(brms: LocalBRMSServer) -> None:
    with _as(brms, None) as client:
        assert client.post("/api/projects/not-a-uuid/environments/x/regenerate-token").status_code == 401


def test_permission_matrix(demo: Demo, brms: LocalBRMSServer) -> None:
    """Each route needs its documented permission; ``owner`` grants everything."""
    staging, production = demo.staging["id"], demo.production["id"]

    def calls(client: httpx.Client) -> dict[str, int]:
        key = f"pm-{secrets.token_hex(4)}"
        return {
            "list": client.get(demo.envs_path()).status_code,
            "create": client.post(demo.envs_path(), json={"name": f"e-{key}", "type": "brms"}).status_code,
            "update": client.put(demo.envs_path(staging), json={"name": "Staging"}).status_code,
            "regenerate": client.post(demo.envs_path(staging) + "/regenerate-token").status_code,
            "deploy": client.post(
                f"/api/projects/{demo.project_id}/releases/deploy",
                json={"releaseId": demo.release_id, "environmentId": production},
            ).status_code,
            "project": client.post("/api/projects", json={"name": "n", "key": key}).status_code,
        }

    expected_ok = {
        "environments": {"list"},
        "environments:manage": {"list", "create", "update", "regenerate"},
        "releases:deploy": {"deploy"},
        "project:manage": {"project"},
        "owner": {"list", "create", "update", "regenerate", "deploy", "project"},
    }
    for permission, allowed in expected_ok.items():
        with _as(brms, brms.create_pat([permission])) as client:
            result = calls(client)
        for name, status in result.items():
            if name in allowed:
                assert status in (200, 201), (permission, name, status)
            else:
                assert status == 403, (permission, name, status)


def test_delete_needs_environments_delete(demo: Demo, brms: LocalBRMSServer) -> None:
    with _as(brms, brms.create_pat(["environments:manage"])) as client:
        response = client.delete(demo.envs_path(demo.staging["id"]))
        assert response.status_code == 403
        assert response.json() == {
            "statusCode": 403,
            "error": "Forbidden",
            "message": "Missing permission: environments:delete",
        }
    with _as(brms, brms.create_pat(["environments:delete"])) as client:
        assert client.delete(demo.envs_path(demo.staging["id"])).status_code == 200


def test_project_scoped_pat(demo: Demo, brms: LocalBRMSServer) -> None:
    other = brms.seed()
    token = brms.create_pat(["owner"], projects=[demo.project_id])
    with _as(brms, token) as client:
        assert client.get(demo.envs_path()).status_code == 200
        assert client.get(f"/api/projects/{other['projectId']}/environments").status_code == 403
        assert client.get(f"/api/projects/{other['projectId']}").status_code == 403
        listed = client.get("/api/projects", params={"perPage": 100}).json()
        assert [p["id"] for p in listed["results"]] == [demo.project_id]


def test_admin_routes_need_the_admin_pat(brms: LocalBRMSServer) -> None:
    with _as(brms, brms.create_pat(["owner"])) as client:
        assert client.get("/_localbrms/metrics").status_code == 403
        assert client.post("/_localbrms/pats", json={"permissions": ["owner"]}).status_code == 403


def test_admin_pat_route_validates(brms: LocalBRMSServer) -> None:
    with _as(brms, brms.pat) as client:
        assert client.post("/_localbrms/pats", json={"permissions": ["fly"]}).status_code == 400
        assert client.post("/_localbrms/pats", json={"permissions": []}).status_code == 400
        assert (
            client.post("/_localbrms/pats", json={"permissions": ["owner"], "projects": ["x"]}).status_code
            == 400
        )
        created = client.post("/_localbrms/pats", json={"permissions": ["environments"]})
        assert created.status_code == 201
        assert len(created.json()["token"]) >= 32

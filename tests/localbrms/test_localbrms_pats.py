"""`GET /api/personal-access-tokens[/{patId}]`: GoRules' shape, a seedable `expiresAt`, no token
in any answer, and an expired PAT refused on `/api/*` (never on `/_localbrms/*`)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from gorules_tokens_localbrms.testing import LocalBRMSError, LocalBRMSServer

ITEM_KEYS = {"id", "note", "permissions", "allProjects", "projects", "user", "createdAt", "updatedAt", "expiresAt"}
PATS = "/api/personal-access-tokens"


def _as(brms: LocalBRMSServer, token: str) -> httpx.Client:
    return httpx.Client(base_url=brms.url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def test_list_and_get_have_the_documented_shape_and_the_seeded_expiry(brms: LocalBRMSServer, demo) -> None:
    made = brms.create_pat_record(["environments:manage"], [demo.project_id], expires_at="2027-03-01T12:00:00Z")
    with _as(brms, made["token"]) as client:
        listed = client.get(PATS)
        one = client.get(f"{PATS}/{made['id']}")
    assert listed.status_code == 200 and isinstance(listed.json(), list)
    mine = next(item for item in listed.json() if item["id"] == made["id"])
    assert set(mine) == ITEM_KEYS and one.json() == mine
    assert mine["expiresAt"] == "2027-03-01T12:00:00.000Z"
    assert mine["permissions"] == ["environments:manage"] and mine["allProjects"] is False
    assert [p["id"] for p in mine["projects"]] == [demo.project_id]
    assert {"id", "email", "isService"} <= set(mine["user"])
    # The admin PAT is the same user's, and never expires unless seeded to.
    admin = next(item for item in listed.json() if item["id"] == brms.admin_pat_id())
    assert admin["expiresAt"] is None and admin["allProjects"] is True
    for text in (listed.text, one.text):
        assert made["token"] not in text and brms.pat not in text and '"token"' not in text


def test_an_unknown_pat_id_is_a_brms_404(api: httpx.Client) -> None:
    response = api.get(f"{PATS}/3c90c3cc-0d44-4b50-8888-8dd25736052a")
    assert response.status_code == 404 and response.json()["message"] == "Personal access token not found"


def test_an_expired_pat_is_refused_on_the_api_only(tmp_path: Path) -> None:
    with LocalBRMSServer(tmp_path / "brms.db", agent=False) as brms:
        admin_id = brms.admin_pat_id()
        brms.set_pat_expiry(admin_id, "2020-01-01T00:00:00Z")
        with _as(brms, brms.pat) as client:
            refused = client.get(PATS)
            assert refused.status_code == 401 and refused.json()["message"] == "Personal access token has expired"
            assert client.get("/_localbrms/metrics").status_code == 200  # the harness keeps working
        assert brms.set_pat_expiry(admin_id, None) == {"id": admin_id, "expiresAt": None}
        with _as(brms, brms.pat) as client:
            assert client.get(PATS).status_code == 200
        brms.restart()  # the admin PAT keeps its id and its expiry across restarts
        assert brms.admin_pat_id() == admin_id


@pytest.mark.parametrize("expires_at", ["soon", "2027-13-01T00:00:00Z"])
def test_a_bad_expiry_is_a_400(brms: LocalBRMSServer, expires_at: str) -> None:
    with pytest.raises(LocalBRMSError, match="-> 400"):
        brms.create_pat_record(["environments"], expires_at=expires_at)

import pytest
from pydantic import ValidationError

from gorules_tokens.models import Environment, EnvironmentListItem, parse_deploy_outcome

P = "123e4567-e89b-12d3-a456-426614174000"
E = "223e4567-e89b-12d3-a456-426614174000"


def test_environment_token_hidden_in_repr():
    env = Environment.model_validate({"id": E, "accessToken": "sekrit_token_1", "name": "n", "type": "brms",
                                      "projectId": P, "addToWorkflow": False, "requiredReviewers": False,
                                      "createdAt": "x", "updatedAt": "y", "unknownField": 1})
    assert "sekrit_token_1" not in repr(env)
    assert env.access_token.get_secret_value() == "sekrit_token_1"


def test_environment_rejects_empty_token():
    with pytest.raises(ValidationError):
        Environment.model_validate({"id": E, "accessToken": ""})


def test_list_item_token_and_release_fallback():
    item = EnvironmentListItem.model_validate({"id": E, "accessToken": None, "release": {"id": "r1"}})
    assert item.token is None and item.effective_release_id == "r1"
    item = EnvironmentListItem.model_validate({"id": E, "accessToken": "", "releaseId": "r2"})
    assert item.token is None and item.effective_release_id == "r2"


@pytest.mark.parametrize(
    "body, status",
    [
        ({"status": "deployed", "releaseId": "r"}, "deployed"),
        ({"id": "d1", "deployment": {"id": "d1"}}, "deployed"),
        ({"id": "cr1", "type": "deployment", "status": "open"}, "change_request:cr1"),
        ({"changeRequest": {"id": "cr2"}}, "change_request:cr2"),
        ({"changeRequestId": "cr3"}, "change_request:cr3"),
        ({"kind": "change-request", "id": "cr4"}, "change_request:cr4"),
        # Changed on purpose (issue 14): a shape that does not say what happened is no longer
        # taken for a deploy or a change request; the caller confirms it from the list.
        ({"status": "pending"}, "unrecognised"),  # a change request without an id
        (None, "unrecognised"),  # empty body
        ("", "unrecognised"),
        ("Deployment initiated successfully", "unrecognised"),  # not JSON
        ({}, "unrecognised"),
        ({"accepted": True, "jobId": "j1"}, "unrecognised"),
        ([{"id": "x"}], "unrecognised"),
        # Only a body that says so is a failure, whatever the 2xx.
        ({"status": "failed"}, "failed:200"),
        ({"status": "FAILED", "message": "storage down"}, "failed:200"),
        ({"success": False}, "failed:200"),
        ({"statusCode": 409, "error": "Conflict", "message": "busy"}, "failed:200"),
    ],
)
def test_deploy_outcome(body, status):
    outcome = parse_deploy_outcome(body, 200)
    kind, _, detail = status.partition(":")
    assert outcome.kind == kind
    assert outcome.id == (detail if kind == "change_request" else None)
    assert outcome.http_status == 200


def test_unrecognised_detail_names_keys_never_values():
    outcome = parse_deploy_outcome({"accessToken": "sekrit_token_2", "x": 1}, 202)
    assert outcome.http_status == 202 and "accessToken" in outcome.detail
    assert "sekrit_token_2" not in outcome.detail and "sekrit_token_2" not in repr(outcome)


def test_list_item_open_change_requests_newest_last():
    item = EnvironmentListItem.model_validate({"id": E, "approvalMode": "require_any", "changeRequests": [
        {"id": "b", "status": "open", "createdAt": "2026-01-02T00:00:00Z"},
        {"id": "a", "status": "open", "createdAt": "2026-01-01T00:00:00Z"},
        {"id": "c", "status": "approved", "createdAt": "2026-01-03T00:00:00Z"},
        "junk",
    ]})
    assert [cr["id"] for cr in item.open_change_requests()] == ["a", "b"]
    assert item.approval_mode == "require_any"

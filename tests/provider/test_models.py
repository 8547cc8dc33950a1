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
        ({"status": "pending"}, "change_request:unknown"),
        (None, "deployed"),
    ],
)
def test_deploy_outcome(body, status):
    assert parse_deploy_outcome(body).status == status

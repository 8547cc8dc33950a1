"""The pure diff plan as a table: (old outputs, new inputs, BRMS in effect, now) -> action + reasons."""

from datetime import datetime, timedelta, timezone

import pytest
from pulumi.output import UNKNOWN

from gorules_tokens.fields import canon_url
from gorules_tokens.plan import NO_OP, REPLACE_ACTION, UPDATE_ACTION, plan

P = "123e4567-e89b-12d3-a456-426614174000"
E = "223e4567-e89b-12d3-a456-426614174000"
NOW = datetime(2025, 1, 1, 12, 0, tzinfo=timezone.utc)
DEFAULT = "https://brms.example.com"


def resolver(default=DEFAULT):
    return lambda props: canon_url(props.get("api_url")) or default


def old(**over):
    outs = {"project_id": P, "environment_id": E, "access_token": "tok_live_123456",
            "rotated_at": "2025-01-01T00:00:00Z", "redeploy_status": "not_needed"}
    outs.update(over)
    return {k: v for k, v in outs.items() if v is not None}


def new(**over):
    news = {"project_id": P, "environment_id": E}
    news.update(over)
    return {k: v for k, v in news.items() if v is not None}


CASES = [
    # (id, olds, news, now offset, action, replaced fields, updated fields)
    ("nothing", old(), new(), 0, NO_OP, [], []),
    ("explicit defaults", old(), new(keepers={}, redeploy=True, revoke_on_delete=False), 0, NO_OP, [], []),
    ("id case", old(), new(environment_id=E.upper()), 0, NO_OP, [], []),
    ("other environment", old(), new(environment_id=P), 0, REPLACE_ACTION, ["environment_id"], []),
    ("keepers", old(keepers={"v": "1"}), new(keepers={"v": "2"}), 0, REPLACE_ACTION, ["keepers"], []),
    ("keepers removed", old(keepers={"v": "1"}), new(), 0, REPLACE_ACTION, ["keepers"], []),
    ("unknown keeper", old(keepers={"v": "1"}), new(keepers={"v": UNKNOWN}), 0, REPLACE_ACTION, ["keepers"], []),
    ("unknown id", old(), new(project_id=UNKNOWN), 0, REPLACE_ACTION, ["project_id"], []),
    ("revoke flag", old(), new(revoke_on_delete=True), 0, UPDATE_ACTION, [], ["revoke_on_delete"]),
    ("unknown flag", old(), new(redeploy=UNKNOWN), 0, UPDATE_ACTION, [], ["redeploy"]),
    ("period set", old(), new(rotate_after="30d"), 0, UPDATE_ACTION, [], ["rotate_after"]),
    ("period respelled", old(rotate_after="1d"), new(rotate_after="24h"), 0, NO_OP, [], []),
    ("not yet due", old(rotate_after="1d"), new(rotate_after="1d"), 11, NO_OP, [], []),
    ("due", old(rotate_after="1d"), new(rotate_after="1d"), 12, REPLACE_ACTION, ["rotate_after"], []),
    ("shortened and due", old(rotate_after="30d"), new(rotate_after="1h"), 0, REPLACE_ACTION, ["rotate_after"],
     ["rotate_after"]),
    ("no token", old(access_token=None), new(), 0, REPLACE_ACTION, ["access_token"], []),
    ("failed redeploy", old(redeploy_status="failed:500"), new(), 0, UPDATE_ACTION, [], ["redeploy_status"]),
    ("failed redeploy, disabled", old(redeploy_status="failed:500", redeploy=False), new(redeploy=False), 0,
     NO_OP, [], []),
    ("api_url to another BRMS", old(), new(api_url="https://other.example.com"), 0, REPLACE_ACTION, ["api_url"], []),
    ("api_url = the default", old(), new(api_url=DEFAULT + "/api/"), 0, UPDATE_ACTION, [], ["api_url"]),
    ("api_url respelled", old(api_url="https://b.example.com"), new(api_url="https://b.example.com/api"), 0,
     NO_OP, [], []),
    ("unknown api_url", old(), new(api_url=UNKNOWN), 0, REPLACE_ACTION, ["api_url"], []),
]


@pytest.mark.parametrize("olds, news, hours, action, replaced, updated",
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_plan_table(olds, news, hours, action, replaced, updated):
    result = plan(olds, news, brms_url=resolver(), now=NOW + timedelta(hours=hours))
    assert result.action == action
    assert sorted(result.replaces) == replaced
    assert sorted(result.updates) == updated
    assert all(result.replaces.values()) and all(result.updates.values())  # every field says why

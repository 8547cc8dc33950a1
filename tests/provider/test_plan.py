"""The pure diff plan as a table: (old outputs, new inputs, BRMS in effect, now) -> action + reasons."""

from datetime import datetime, timedelta, timezone

import pytest
from pulumi.output import UNKNOWN

from gorules_tokens.fields import canon_url
from gorules_tokens.plan import plan

REPLACE_ACTION, UPDATE_ACTION, NO_OP = "replace", "update", "none"


def action_of(result) -> str:
    """What the adapter makes of a plan: a replace wins, else an update, else nothing."""
    if result.replaces:
        return REPLACE_ACTION
    return UPDATE_ACTION if result.updates else NO_OP

P = "123e4567-e89b-12d3-a456-426614174000"
E = "223e4567-e89b-12d3-a456-426614174000"
NOW = datetime(2025, 1, 1, 12, 0, tzinfo=timezone.utc)
DEFAULT = "https://brms.example.com"


EU = "https://eu.example.com"
INSTANCES = {"eu": EU, "eu-renamed": EU, "us": "https://us.example.com"}


def resolver(default=DEFAULT):
    """Like ProviderConfig.brms_url_for: the stored URL, else the instance's, api_url's, the default."""
    def url(props):
        if props.get("brms_url"):
            return props["brms_url"]
        if props.get("instance"):
            return INSTANCES.get(props["instance"])
        return canon_url(props.get("api_url")) or default
    return url


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
    # also the state of an earlier release, written before brms_url was stored
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
    ("refused redeploy", old(redeploy_status="failed:403"), new(), 0, NO_OP, [], []),  # issue 19 item 5
    ("failed redeploy, disabled", old(redeploy_status="failed:500", redeploy=False), new(redeploy=False), 0,
     NO_OP, [], []),
    ("api_url to another BRMS", old(), new(api_url="https://other.example.com"), 0, REPLACE_ACTION, ["api_url"], []),
    ("api_url = the default", old(), new(api_url=DEFAULT + "/api/"), 0, UPDATE_ACTION, [], ["api_url"]),
    ("api_url respelled", old(api_url="https://b.example.com"), new(api_url="https://b.example.com/api"), 0,
     NO_OP, [], []),
    ("unknown api_url", old(), new(api_url=UNKNOWN), 0, REPLACE_ACTION, ["api_url"], []),
    # journey 3: the BRMS a token was minted on is compared with where the inputs resolve to
    # also what an instance-less token sees when the default's URL changed
    ("stack moved", old(brms_url="https://old.example.com"), new(), 0, REPLACE_ACTION, ["brms_url"], []),
    ("resource moved", old(brms_url=DEFAULT), new(api_url="https://b.example.com"), 0, REPLACE_ACTION,
     ["api_url"], []),
    ("api_url dropped, same BRMS", old(brms_url=DEFAULT, api_url="https://b.example.com"), new(), 0, UPDATE_ACTION,
     [], ["api_url"]),
    ("earlier release, own api_url", old(api_url="https://b.example.com"), new(api_url="https://b.example.com/"),
     0, NO_OP, [], []),
    # Instances (issue 13): the BRMS a token was minted on is its stored brms_url.
    ("minted here", old(brms_url=DEFAULT), new(), 0, NO_OP, [], []),
    ("moved to another instance", old(brms_url=DEFAULT), new(instance="eu"), 0, REPLACE_ACTION, ["instance"], []),
    ("moved back to the default", old(brms_url=EU, instance="eu"), new(), 0, REPLACE_ACTION, ["instance"], []),
    ("instance renamed, same URL", old(brms_url=EU, instance="eu"), new(instance="eu-renamed"), 0,
     UPDATE_ACTION, [], ["instance"]),
    ("the instance's URL changed", old(brms_url="https://eu-old.example.com", instance="eu"), new(instance="eu"), 0,
     REPLACE_ACTION, ["brms_url"], []),
    ("instance named by api_url", old(brms_url=EU, instance="eu"), new(api_url=EU + "/api"), 0,
     UPDATE_ACTION, [], ["api_url", "instance"]),
    ("unknown instance", old(brms_url=EU, instance="eu"), new(instance=UNKNOWN), 0, REPLACE_ACTION, ["instance"], []),
]


@pytest.mark.parametrize("olds, news, hours, action, replaced, updated",
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_plan_table(olds, news, hours, action, replaced, updated):
    result = plan(olds, news, brms_url=resolver(), now=NOW + timedelta(hours=hours))
    assert action_of(result) == action
    assert sorted(result.replaces) == replaced
    assert sorted(result.updates) == updated
    assert all(result.replaces.values()) and all(result.updates.values())  # every field says why


def test_no_url_in_effect_replaces_nothing():
    # A preview without gorules:apiUrl or GORULES_URL cannot tell where the inputs point.
    result = plan(old(brms_url="https://old.example.com"), new(), brms_url=resolver(default=None), now=NOW)
    assert action_of(result) == NO_OP


def test_nothing_configured_never_replaces_a_minted_token():
    # No URL in effect at all (say GORULES_URL unset in this shell): nothing to compare with.
    result = plan(old(brms_url=EU), new(), brms_url=resolver(default=None), now=NOW)
    assert action_of(result) == NO_OP

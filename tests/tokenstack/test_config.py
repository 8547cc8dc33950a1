"""The stack config schema names the entry and the field of every problem."""

from __future__ import annotations

import pytest

from tokenstack.config import StackConfigError, parse_environments

P = "3f1c2a9e-0000-4000-8000-000000000001"
E = "3f1c2a9e-0000-4000-8000-000000000002"


def good(**extra):
    return {"name": "staging", "projectId": P, "environmentId": E, **extra}


def test_minimal_entry_gets_the_documented_defaults() -> None:
    [entry] = parse_environments([good()])
    i = entry.inputs
    assert (i.keepers, i.rotate_after, i.revoke_on_delete, i.adopt_existing, i.redeploy) == ({}, None, False, False, True)
    # Only what the entry spells out goes to the resource; the rest stays implied.
    assert entry.given == {"project_id": P, "environment_id": E}


def test_all_options_are_read() -> None:
    [entry] = parse_environments(
        [good(keepers={"v": "2"}, rotateAfter="30d", revokeOnDelete=True, adoptExisting=True, redeploy=False)]
    )
    i = entry.inputs
    assert i.keepers == {"v": "2"}
    assert i.rotate_after == "30d"
    assert i.revoke_on_delete and i.adopt_existing and not i.redeploy
    assert entry.given == {"project_id": P, "environment_id": E, "keepers": {"v": "2"}, "rotate_after": "30d",
                           "revoke_on_delete": True, "adopt_existing": True, "redeploy": False}


def test_missing_config_means_no_tokens() -> None:
    assert parse_environments(None) == []


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ([good(projectId="not-a-uuid")], "environments[0] ('staging'): field 'projectId': must be a UUID"),
        ([good(environmentId="")], "field 'environmentId': must be a UUID"),
        ([good(environmentId=f" {E}")], "field 'environmentId': must be a UUID"),
        ([good(rotateAfter="-1d")], "field 'rotateAfter': invalid duration '-1d'"),
        ([good(rotateAfter="soon")], "field 'rotateAfter': invalid duration 'soon'"),
        ([good(keepers={"v": 2})], "field 'keepers.v': must be a string"),
        ([good(keepers=["v"])], "field 'keepers': must be a map of strings"),
        ([good(projectId=5)], "field 'projectId': must be a string (a UUID)"),
        ([good(rotateAfter=30)], "field 'rotateAfter': must be a string such as '30d'"),
        ([good(revokeOnDelete="yes")], "field 'revokeOnDelete': must be true or false"),
        ([good(colour="blue")], "field 'colour': not a known setting (allowed: name, projectId,"),
        ([good(apiUrl="https://b.example.com")], "field 'apiUrl': not a known setting"),
        ([good(name="has space")], "field 'name'"),
        ([good(), good()], "environments[1] ('staging'): field 'name': duplicate"),
        ([good(name="x", projectId="bad"), good(), good()], "environments[2] ('staging'): field 'name': duplicate"),
        ([{"projectId": P, "environmentId": E}], "environments[0]: field 'name': required"),
        ([{"name": "a"}], "environments[0] ('a'): field 'projectId': required"),
        (["staging"], "environments[0]: must be an object"),
        ({"name": "staging"}, "must be a list"),
    ],
)
def test_bad_entries_are_named(raw, expected: str) -> None:
    with pytest.raises(StackConfigError) as caught:
        parse_environments(raw)
    assert expected in str(caught.value)


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(StackConfigError) as caught:
        parse_environments([good(projectId="x"), good(name="prod", rotateAfter="0s")])
    text = str(caught.value)
    assert "environments[0] ('staging'): field 'projectId'" in text
    assert "environments[1] ('prod'): field 'rotateAfter'" in text


def test_two_entries_for_one_environment_are_refused_naming_both() -> None:
    # Journey 4: they would regenerate against each other and one would always hold a dead token.
    with pytest.raises(StackConfigError) as caught:
        parse_environments([good(), good(name="staging-again", environmentId=E.upper())])
    text = str(caught.value)
    assert "environments[1] ('staging-again'): same project and environment" in text
    assert "as environments[0] ('staging')" in text


def test_aliases_are_read_and_may_not_collide() -> None:
    # Journey 5: a renamed entry names its earlier names, so the resource (and token) are kept.
    [entry] = parse_environments([good(name="stage", aliases=["staging"])])
    assert entry.name == "stage" and entry.aliases == ("staging",)
    assert "aliases" not in entry.given  # not a resource input
    with pytest.raises(StackConfigError, match=r"environments\[1\] \('prod'\): field 'aliases': duplicate"):
        parse_environments([good(), good(name="prod", environmentId=P, aliases=["staging"])])
    with pytest.raises(StackConfigError, match="field 'aliases': must be a list of earlier names"):
        parse_environments([good(aliases="staging")])


def test_instance_must_be_a_configured_one() -> None:
    ok = {"name": "eu-orders", "projectId": "123e4567-e89b-12d3-a456-426614174000",
          "environmentId": "223e4567-e89b-12d3-a456-426614174000", "instance": "eu"}
    [entry] = parse_environments([ok], {"eu"})
    assert entry.given["instance"] == "eu" and entry.inputs.instance == "eu"
    with pytest.raises(StackConfigError) as info:
        parse_environments([ok, {**ok, "name": "b", "instance": "mars"}, {**ok, "name": "c", "instance": "no way"}], {"eu"})
    message = str(info.value)
    assert "environments[1] ('b'): field 'instance': unknown instance 'mars' (configured in gorules:instances: eu)" \
        in message
    assert "environments[2] ('c'): field 'instance': must be 1-63 letters" in message


def test_one_environment_id_on_two_instances_is_two_tokens() -> None:
    # The same ids on two BRMS (say a BRMS restored from another) are two tokens, by the same
    # rule EnvironmentToken applies in a program (gorules_tokens.claims.identity).
    ok = {"name": "orders", "projectId": "123e4567-e89b-12d3-a456-426614174000",
          "environmentId": "223e4567-e89b-12d3-a456-426614174000"}
    entries = parse_environments([ok, {**ok, "name": "orders-eu", "instance": "eu"}], {"eu"})
    assert [e.name for e in entries] == ["orders", "orders-eu"]
    with pytest.raises(StackConfigError, match="same project and environment"):
        parse_environments([{**ok, "instance": "eu"}, {**ok, "name": "again", "instance": "eu"}], {"eu"})

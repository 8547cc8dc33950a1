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
    assert (entry.keepers, entry.rotate_after, entry.revoke_on_delete, entry.adopt_existing, entry.redeploy) == (
        {}, None, False, False, True,
    )


def test_all_options_are_read() -> None:
    [entry] = parse_environments(
        [good(keepers={"v": "2"}, rotateAfter="30d", revokeOnDelete=True, adoptExisting=True, redeploy=False)]
    )
    assert entry.keepers == {"v": "2"}
    assert entry.rotate_after == "30d"
    assert entry.revoke_on_delete and entry.adopt_existing and not entry.redeploy


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
        ([good(keepers={"v": 2})], "field 'keepers.v'"),
        ([good(revokeOnDelete="yes")], "field 'revokeOnDelete'"),
        ([good(colour="blue")], "field 'colour': Extra inputs are not permitted"),
        ([good(name="has space")], "field 'name'"),
        ([good(), good()], "environments[1] ('staging'): field 'name': duplicate"),
        ([{"projectId": P, "environmentId": E}], "environments[0]: field 'name': Field required"),
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

"""Input validation shared by check() and the stack config: every problem named, values never echoed."""

import sys
import subprocess

import pytest

from gorules_tokens.fields import MAX_KEEPER_VALUE, MAX_KEEPERS
from gorules_tokens.inputs import (
    InputError,
    TokenInputs,
    validate_inputs,
)
from gorules_tokens.fields import default_of, parse_uuid

P = "123e4567-e89b-12d3-a456-426614174000"
E = "223e4567-e89b-12d3-a456-426614174000"


def problems(raw) -> dict[str, str]:
    with pytest.raises(InputError) as info:
        validate_inputs(raw)
    return {p.field: p.describe() for p in info.value.problems}


def test_parse_uuid():
    assert parse_uuid(P.upper()) == P
    for bad in (" " + P, P + " ", P + "\n", "{" + P + "}", "urn:uuid:" + P, P.replace("-", ""), "nope", 12):
        with pytest.raises(ValueError):
            parse_uuid(bad)


def test_defaults_applied_and_compact_drops_them():
    inputs = validate_inputs({"project_id": P.upper(), "environment_id": E, "redeploy": None})
    assert inputs == TokenInputs(project_id=P, environment_id=E)
    assert (inputs.keepers, inputs.rotate_after, inputs.revoke_on_delete, inputs.adopt_existing,
            inputs.redeploy, inputs.api_url) == ({}, None, False, False, True, None)
    assert inputs.compact() == {"project_id": P, "environment_id": E}


def test_compact_keeps_every_non_default():
    raw = {"project_id": P, "environment_id": E, "keepers": {"v": "1"}, "rotate_after": "30d",
           "revoke_on_delete": True, "adopt_existing": True, "redeploy": False,
           "api_url": "https://b.example.com/api"}
    assert validate_inputs(raw).compact() == raw


def test_explicit_default_values_are_left_out_too():
    raw = {"project_id": P, "environment_id": E, "keepers": {}, "revoke_on_delete": False, "redeploy": True}
    assert validate_inputs(raw).compact() == {"project_id": P, "environment_id": E}


def test_every_problem_is_named():
    got = problems({"environment_id": E, "keepers": {"a": 1}, "rotate_after": "-1d", "revoke_on_delete": "yes",
                    "adopt_existing": 1, "api_url": "http://x.example.com", "bogus": 1})
    assert got == {
        "project_id": "project_id is required",
        "keepers": "keepers.a: must be a string",
        "rotate_after": got["rotate_after"],
        "revoke_on_delete": "must be true or false",
        "adopt_existing": "must be true or false",
        "api_url": got["api_url"],
        "bogus": "unknown input 'bogus'",
    }
    assert got["rotate_after"].startswith("invalid duration '-1d'")
    assert "https://" in got["api_url"]


@pytest.mark.parametrize(
    ("keepers", "reason"),
    [
        (["a"], "must be a map of strings"),
        ({"": "x"}, "keeper names must be non-empty strings"),
        ({"k" * 129: "x"}, "at most 128 characters"),
        ({f"k{i}": "x" for i in range(MAX_KEEPERS + 1)}, f"at most {MAX_KEEPERS} keepers"),
        ({"big": "x" * (MAX_KEEPER_VALUE + 1)}, f"keepers.big: must be at most {MAX_KEEPER_VALUE} characters"),
    ],
)
def test_keeper_bounds(keepers, reason):
    assert reason in problems({"project_id": P, "environment_id": E, "keepers": keepers})["keepers"]


def test_wrong_types_say_what_is_expected():
    got = problems({"project_id": 5, "environment_id": E, "rotate_after": 30, "api_url": 1})
    assert got["project_id"] == "must be a string (a UUID)"
    assert got["rotate_after"].startswith("must be a string such as")
    assert got["api_url"] == "must be a string"


def test_failures_never_echo_values():
    with pytest.raises(InputError) as info:
        validate_inputs({"project_id": P, "environment_id": "secret-looking-98765", "keepers": {"k": 12345678987}})
    assert "12345678987" not in str(info.value) and "98765" not in str(info.value)


def test_default_of_treats_absent_and_null_alike():
    assert default_of({}, "redeploy") is True
    assert default_of({"redeploy": None}, "redeploy") is True
    assert default_of({"redeploy": False}, "redeploy") is False
    assert default_of({}, "keepers") == {}


def test_importing_the_resource_api_loads_no_pydantic_httpx_or_tenacity(tmp_path):
    # The program and every preview import this path; the heavy libraries wait for the first BRMS call.
    # Run outside the repo, so only the installed package can be found.
    code = ("import sys, gorules_tokens, gorules_tokens.provider, gorules_tokens.inputs, gorules_tokens.plan, gorules_tokens.operations, gorules_tokens.process; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'pydantic', 'httpx', 'tenacity', 'fastapi'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert out.stdout.strip() == "[]"

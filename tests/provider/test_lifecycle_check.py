"""check(): validation named per field, defaults, preview unknowns, no network."""

import pytest
from pulumi.output import UNKNOWN  # what 3.272 hands to check/diff in preview
from pulumi.dynamic import Config, ConfigureRequest
from pulumi.runtime.rpc import UNKNOWN as WIRE_UNKNOWN

from gorules_tokens.provider import EnvironmentTokenProvider

P = "123e4567-e89b-12d3-a456-426614174000"
E = "223e4567-e89b-12d3-a456-426614174000"
PROV = "c2VyaWFsaXplZA=="


@pytest.fixture
def provider():
    # No credentials anywhere: check must not need them.
    return EnvironmentTokenProvider()


def failures(result):
    return {f.property: f.reason for f in result.failures}


def test_valid_inputs_are_normalised_and_defaults_left_out(provider):
    # Defaults are implied, not stored: the engine rewrites every stored byte at each checkpoint.
    result = provider.check({}, {"project_id": P.upper(), "environment_id": E, "__provider": PROV,
                                 "access_token": None, "fingerprint": None, "redeploy": True, "keepers": {}})
    assert result.failures == []
    assert result.inputs == {"project_id": P, "environment_id": E, "__provider": PROV}


def test_non_default_inputs_are_kept(provider):
    # api_url must name a configured BRMS (issue 13), so this one is configured as an instance;
    # a configured provider needs that BRMS's PAT at preview (issue 26).
    provider.configure(ConfigureRequest(Config(
        raw_config={"gorules:instances": '{"b": {"apiUrl": "https://b.example.com", "token": "pat-b-123456"}}'},
        project_name="proj")))
    news = {"project_id": P, "environment_id": E, "keepers": {"v": "1"}, "rotate_after": "30d",
            "revoke_on_delete": True, "adopt_existing": True, "redeploy": False, "api_url": "https://b.example.com"}
    result = provider.check({}, {**news, "__provider": PROV})
    assert result.failures == [] and result.inputs == {**news, "__provider": PROV}


def test_provider_key_untouched(provider):
    result = provider.check({}, {"project_id": P, "environment_id": E, "__provider": PROV})
    assert result.inputs["__provider"] is PROV


def test_every_failure_names_its_field(provider):
    news = {
        "project_id": " " + P,
        "environment_id": "not-a-uuid",
        "keepers": {"ok": "x", "bad": 3},
        "rotate_after": "0d",
        "revoke_on_delete": "true",
        "adopt_existing": 1,
        "redeploy": "no",
        "api_url": "http://brms.example.com",
        "surprise": 1,
        "access_token": "i-am-an-output",
        "__provider": PROV,
    }
    got = failures(provider.check({}, news))
    assert set(got) == {"project_id", "environment_id", "keepers", "rotate_after", "revoke_on_delete",
                        "adopt_existing", "redeploy", "api_url", "surprise", "access_token"}
    assert "UUID" in got["project_id"] and "keepers.bad" in got["keepers"]
    assert "greater than zero" in got["rotate_after"] and "https" in got["api_url"]
    assert "output" in got["access_token"] and "unknown input" in got["surprise"]


def test_missing_required_ids(provider):
    got = failures(provider.check({}, {"__provider": PROV}))
    assert got == {"project_id": "project_id is required", "environment_id": "environment_id is required"}


def test_keepers_must_be_map_of_strings(provider):
    assert "keepers" in failures(provider.check({}, {"project_id": P, "environment_id": E, "keepers": ["a"]}))
    assert "keepers" in failures(provider.check({}, {"project_id": P, "environment_id": E, "keepers": {"": "x"}}))


def test_unknowns_pass_through_during_preview(provider):
    news = {"project_id": UNKNOWN, "environment_id": E, "keepers": {"a": UNKNOWN, "b": "x"},
            "rotate_after": UNKNOWN, "redeploy": UNKNOWN, "__provider": PROV}
    result = provider.check({}, news)
    assert result.failures == []
    assert result.inputs["project_id"] == UNKNOWN
    assert result.inputs["keepers"] == {"a": UNKNOWN, "b": "x"}
    assert result.inputs["rotate_after"] == UNKNOWN and result.inputs["redeploy"] == UNKNOWN


def test_known_parts_still_validated_next_to_unknowns(provider):
    news = {"project_id": UNKNOWN, "environment_id": "bad", "keepers": {"a": UNKNOWN, "b": 5}}
    assert set(failures(provider.check({}, news))) == {"environment_id", "keepers"}


def test_explicit_none_means_default(provider):
    result = provider.check({}, {"project_id": P, "environment_id": E, "redeploy": None, "keepers": None})
    assert result.failures == [] and result.inputs == {"project_id": P, "environment_id": E}


def test_api_url_kept_as_written(provider):
    result = provider.check({}, {"project_id": P, "environment_id": E, "api_url": "https://b.example.com/api/"})
    assert result.inputs["api_url"] == "https://b.example.com/api/"


def test_wire_sentinel_string_also_counts_as_unknown(provider):
    result = provider.check({}, {"project_id": WIRE_UNKNOWN, "environment_id": E})
    assert result.failures == [] and result.inputs["project_id"] == WIRE_UNKNOWN

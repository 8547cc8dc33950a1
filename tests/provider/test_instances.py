"""Several BRMS instances (issue 13): parsing gorules:instances, and the one resolution of a
resource to (URL, PAT) in which the PAT is chosen by the URL it belongs to."""

from __future__ import annotations

import json
import re

import pytest

from gorules_tokens.errors import ConfigError
from gorules_tokens.instances import INSTANCE_NAME, ProviderConfig, env_token_var, parse_instances
from tokenstack.config import _NAME as ENTRY_NAME

DEFAULT = "https://default.example.com"
EU = "https://eu.example.com"
US = "https://us.example.com"
MAP = {"eu": {"apiUrl": EU + "/api/", "token": "pat-eu-123456"}, "us": {"apiUrl": US}}


def config(instances=MAP, api_url=DEFAULT, token="pat-default-123456") -> ProviderConfig:
    return ProviderConfig(api_url=api_url, token=token, instances=instances)


def test_configure_json_text_and_program_dict_are_the_same_map():
    # configure() gets one JSON string (measured on the pinned engine); the program a dict.
    as_text = config(instances=json.dumps(MAP)).registry({})
    as_dict = config().registry({})
    assert as_text == as_dict
    assert {n: i.url for n, i in as_dict.named.items()} == {"eu": EU, "us": US}


def test_instance_names_use_the_entry_alphabet():
    assert INSTANCE_NAME is ENTRY_NAME
    for bad in ("", "-eu", "eu west", "é", "x" * 64):
        with pytest.raises(ConfigError, match="gorules:instances: instance name"):
            parse_instances(DEFAULT, None, {bad: {"apiUrl": EU}}, {})


@pytest.mark.parametrize("spec, message", [
    ({"eu": "https://eu.example.com"}, "gorules:instances.eu: must be an object"),
    ({"eu": {"token": "pat-eu-123456"}}, "gorules:instances.eu.apiUrl is required"),
    ({"eu": {"apiUrl": "http://eu.example.com"}}, "gorules:instances.eu.apiUrl: BRMS URL must use https://"),
    ({"eu": {"apiUrl": EU, "url": EU}}, "gorules:instances.eu: unknown setting(s) url"),
    ({"eu": {"apiUrl": EU, "token": 5}}, "gorules:instances.eu.token must be a string"),
    ([EU], "gorules:instances: must be a map"),
])
def test_bad_maps_name_the_key(spec, message):
    with pytest.raises(ConfigError) as info:
        parse_instances(DEFAULT, None, spec, {})
    assert message in str(info.value)


def test_invalid_json_is_refused_without_quoting_it():
    with pytest.raises(ConfigError) as info:
        parse_instances(DEFAULT, None, '{"eu": {"token": "pat-secret-9876543"', {})
    assert "invalid JSON" in str(info.value) and "pat-secret" not in str(info.value)


@pytest.mark.parametrize("spec, message", [
    ({"eu": {"apiUrl": DEFAULT + "/api"}}, "is already the URL of the default instance (gorules:apiUrl)"),
    ({"eu": {"apiUrl": EU}, "eu2": {"apiUrl": EU + "/"}}, "is already the URL of instance 'eu'"),
    ({"eu-1": {"apiUrl": EU}, "eu_1": {"apiUrl": US}}, "would share the environment variable GORULES_TOKEN_EU_1"),
])
def test_one_url_one_instance(spec, message):
    # The PAT is found by URL, so a URL configured twice would make that lookup ambiguous.
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_instances(DEFAULT, None, spec, {})


def test_the_pat_is_the_one_of_the_instance_owning_the_url():
    cfg = config()
    assert (cfg.resolve({}, {}).base_url, cfg.resolve({}, {}).pat) == (DEFAULT, "pat-default-123456")
    eu = cfg.resolve({"instance": "eu"}, {})
    assert (eu.base_url, eu.pat) == (EU, "pat-eu-123456")
    # api_url selects a configured BRMS, respelled or not, and gets that BRMS's PAT.
    assert cfg.resolve({"api_url": EU.upper().replace("HTTPS", "https") + "/api"}, {}).pat == "pat-eu-123456"
    assert cfg.resolve({"api_url": DEFAULT + "/"}, {}).pat == "pat-default-123456"
    assert cfg.resolve({"instance": "eu", "api_url": EU}, {}).pat == "pat-eu-123456"
    # An existing token's stored URL picks the PAT, whatever its echoed inputs say.
    assert cfg.resolve({"brms_url": EU}, {}).pat == "pat-eu-123456"


@pytest.mark.parametrize("props, message", [
    ({"api_url": "https://elsewhere.example.com"}, "api_url: https://elsewhere.example.com is not the URL of"),
    ({"instance": "mars"}, "instance: unknown instance 'mars'; configured instances: eu, us"),
    ({"instance": "eu", "api_url": US}, "api_url: https://us.example.com is not the URL of instance 'eu'"),
    ({"brms_url": "https://gone.example.com"}, "minted on the BRMS at https://gone.example.com, but the stack now points at https://default.example.com; https://gone.example.com is no longer configured"),
])
def test_no_pat_for_a_url_that_is_not_configured(props, message):
    with pytest.raises(ConfigError) as info:
        config().resolve(props, {})
    assert message in str(info.value)
    assert "pat-" not in str(info.value)


def test_instance_without_a_pat_fails_when_used_naming_its_key():
    cfg = config()
    cfg.registry({})  # building the map needs no PAT (check/diff never do)
    with pytest.raises(ConfigError) as info:
        cfg.resolve({"instance": "us"}, {})
    message = str(info.value)
    assert "gorules:instances.us.token" in message and "GORULES_TOKEN_US" in message
    assert "pulumi config set --secret --path gorules:instances.us.token" in message


def test_ci_environment_variables():
    env = {"GORULES_URL": DEFAULT, "GORULES_TOKEN": "pat-default-env1",
           "GORULES_INSTANCES": json.dumps({"eu.west-1": {"apiUrl": EU}}),
           env_token_var("eu.west-1"): "pat-eu-env-12345"}
    assert env_token_var("eu.west-1") == "GORULES_TOKEN_EU_WEST_1"
    cfg = ProviderConfig()
    assert cfg.resolve({"instance": "eu.west-1"}, env).pat == "pat-eu-env-12345"
    assert cfg.resolve({}, env).pat == "pat-default-env1"
    # Stack config wins over the environment, for the map and for a PAT.
    cfg = config(instances={"eu.west-1": {"apiUrl": US, "token": "pat-eu-config-1"}})
    assert (cfg.resolve({"instance": "eu.west-1"}, env).base_url, cfg.resolve({"instance": "eu.west-1"}, env).pat) \
        == (US, "pat-eu-config-1")


def test_brms_url_for_never_raises_and_prefers_the_stored_url():
    cfg = config()
    assert cfg.brms_url_for({"instance": "eu"}, {}) == EU
    assert cfg.brms_url_for({"instance": "mars"}, {}) is None
    assert cfg.brms_url_for({"api_url": "https://elsewhere.example.com/api"}, {}) == "https://elsewhere.example.com"
    assert cfg.brms_url_for({}, {}) == DEFAULT
    assert cfg.brms_url_for({"instance": "eu", "brms_url": "https://minted.example.com"}, {}) \
        == "https://minted.example.com"
    assert config(instances="{broken").brms_url_for({"instance": "eu"}, {}) is None


def test_target_problem_is_what_check_reports():
    cfg = config()
    assert cfg.target_problem({}, {}) is None
    assert cfg.target_problem({"instance": "eu"}, {}) is None
    assert cfg.target_problem({"api_url": US}, {}) is None
    field, reason = cfg.target_problem({"instance": "mars"}, {})
    assert field == "instance" and "unknown instance 'mars'" in reason
    field, reason = cfg.target_problem({"api_url": "https://elsewhere.example.com"}, {})
    assert field == "api_url" and "no PAT may be sent to it" in reason
    field, reason = config(instances={"eu": {}}).target_problem({"instance": "eu"}, {})
    assert field == "instance" and "gorules:instances.eu.apiUrl is required" in reason

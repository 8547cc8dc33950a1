"""One EnvironmentToken per (BRMS, project, environment) in a program."""

import uuid

import pulumi
import pytest

from gorules_tokens.claims import claim, identity


def test_the_same_ids_on_two_instances_are_two_environments() -> None:
    project, env = str(uuid.uuid4()), str(uuid.uuid4())
    claim("orders", project, env)
    claim("orders-eu", project, env, "eu")  # another BRMS: no conflict
    with pytest.raises(pulumi.RunError, match="'orders-eu'"):
        claim("orders-eu-again", project, env.upper(), "eu")


def test_identity_is_the_rule_the_stack_config_uses_too() -> None:
    project, env = str(uuid.uuid4()), str(uuid.uuid4())
    assert identity(project, env) == (None, project, env)
    assert identity(project.upper(), env, "eu") == ("eu", project, env)
    assert identity(project, env, None, "https://b.example.com/api/") == ("https://b.example.com", project, env)


# -- issue 19 item 2: one BRMS, one identity, however it is spelled ---------------------------

EU_URL = "https://eu.brms.example.com"


@pytest.fixture
def configured(monkeypatch: pytest.MonkeyPatch):
    """A default BRMS and an instance `eu`, from the environment as CI sets them; the claims
    read the config again (a new run)."""
    import json

    from gorules_tokens import claims

    monkeypatch.setenv("GORULES_URL", "https://default.brms.example.com")
    monkeypatch.setenv("GORULES_INSTANCES", json.dumps({"eu": {"apiUrl": EU_URL}}))
    monkeypatch.setattr(claims, "_run", object())


@pytest.mark.parametrize("first, second", [
    ({"instance": "eu"}, {"api_url": EU_URL + "/api/"}),
    ({"api_url": "https://EU.brms.example.com:443"}, {"instance": "eu"}),
    ({}, {"api_url": "https://default.brms.example.com/api"}),
    ({"api_url": "https://default.brms.example.com."}, {}),
])
def test_two_spellings_of_one_brms_are_one_environment(configured, first, second) -> None:
    project, env = str(uuid.uuid4()), str(uuid.uuid4())
    claim("first", project, env, first.get("instance"), first.get("api_url"))
    with pytest.raises(pulumi.RunError, match="already has the EnvironmentToken 'first'"):
        claim("second", project, env, second.get("instance"), second.get("api_url"))


def test_the_default_and_an_instance_stay_two_brms(configured) -> None:
    project, env = str(uuid.uuid4()), str(uuid.uuid4())
    claim("default", project, env)
    claim("eu", project, env, "eu")
    claim("eu-by-url", str(uuid.uuid4()), env, None, EU_URL)


def test_the_stack_config_resolves_entries_to_urls_too() -> None:
    from gorules_tokens.instances import parse_instances
    from tokenstack.config import StackConfigError, parse_environments

    registry = parse_instances("https://default.brms.example.com", None, {"eu": {"apiUrl": EU_URL}}, {})
    project, env = str(uuid.uuid4()), str(uuid.uuid4())
    entry = {"name": "a", "projectId": project, "environmentId": env}
    assert len(parse_environments([entry, {**entry, "name": "b", "instance": "eu"}], registry)) == 2
    with pytest.raises(StackConfigError, match="same BRMS"):
        parse_environments([{**entry, "instance": "eu"}, {**entry, "name": "b", "instance": "eu"}], registry)
    a, b = parse_environments([entry, {**entry, "name": "b", "environmentId": str(uuid.uuid4())}], registry)
    assert a.identity(registry)[0] == "https://default.brms.example.com"

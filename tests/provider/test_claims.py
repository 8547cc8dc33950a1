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

"""Issue 12, journey 4 through the real engine: one token per environment, in the stack
config and in a user's own program."""

from __future__ import annotations

import pytest
from pulumi import automation as auto

from support.brms import config_entry, env_by_name, live_token, quiet, requests_made, stack_resources

pytestmark = pytest.mark.engine


def test_journey4_duplicate_stack_config_entries_are_refused_at_preview(token_stack, seeded, brms) -> None:
    ts = token_stack([config_entry(seeded, "staging"), config_entry(seeded, "staging", name="staging-copy")])
    brms.reset_metrics()
    with pytest.raises(auto.errors.CommandError) as caught:
        ts.preview()
    message = str(caught.value)
    assert "environments[1] ('staging-copy'): same project and environment on the same BRMS as " \
           "environments[0] ('staging')" in message
    assert "Traceback" not in message
    assert requests_made(brms) == 0


def test_journey4_two_tokens_for_one_environment_in_a_program_fail_the_second(user_program, seeded, brms) -> None:
    project, env_id = seeded["projectId"], env_by_name(seeded, "staging")["id"]
    stack = user_program([{"name": "first", "project_id": project, "environment_id": env_id},
                          {"name": "second", "project_id": project, "environment_id": env_id.upper()}])
    brms.reset_metrics()
    with pytest.raises(auto.errors.CommandError) as caught:
        stack.preview(on_output=quiet)
    assert "EnvironmentToken 'second'" in str(caught.value) and "'first'" in str(caught.value)
    assert requests_made(brms) == 0

    with pytest.raises(auto.errors.CommandError) as caught:
        stack.up(on_output=quiet)
    assert "EnvironmentToken 'second'" in str(caught.value)
    held = {name: outs.get("access_token") for name, outs in stack_resources(stack).items()}
    assert "second" not in held
    # The engine may have created the first before the program failed; if so it holds the live token.
    assert set(held) <= {"first"} and all(token == live_token(brms, project, env_id) for token in held.values())
    assert requests_made(brms, "regenerate-token") <= 1

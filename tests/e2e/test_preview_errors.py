"""Errors at preview, in one line (issue 26, item 2), through the real engine: a typo in a
config key and a missing URL or PAT fail `pulumi preview` with 0 BRMS requests; an error of
the BRMS reaches the user as its one line, without a Python traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from pulumi import automation as auto

from support.brms import config_entry, env_by_name, requests_made
from tokenstack.stackfile import set_object_config

pytestmark = pytest.mark.engine


def _failed_preview(stack) -> str:
    with pytest.raises(auto.errors.CommandError) as caught:
        stack.preview(on_output=lambda _line: None)
    return str(caught.value)


def test_a_typo_in_a_key_fails_the_token_stack_preview_naming_the_known_key(token_stack, seeded, brms) -> None:
    ts = token_stack([config_entry(seeded, "staging")])
    ts.stack.remove_config("gorules:apiUrl")
    ts.stack.set_config("gorules:apiurl", auto.ConfigValue(brms.url))
    brms.reset_metrics()
    message = _failed_preview(ts.stack)
    assert "unknown config key 'gorules:apiurl': did you mean 'gorules:apiUrl'?" in message
    assert "Traceback" not in message
    assert requests_made(brms) == 0


def test_a_typo_in_a_key_fails_the_preview_of_a_users_program(user_program, seeded, brms) -> None:
    staging = env_by_name(seeded, "staging")
    stack = user_program([{"name": "staging", "project_id": seeded["projectId"], "environment_id": staging["id"]}])
    stack.set_config("gorules:apiurl", auto.ConfigValue(brms.url))
    brms.reset_metrics()
    message = _failed_preview(stack)
    assert "unknown config key 'gorules:apiurl': did you mean 'gorules:apiUrl'?" in message
    assert "Traceback" not in message
    assert requests_made(brms) == 0


@pytest.mark.parametrize("missing, expected", [
    ("gorules:apiUrl", "no BRMS URL configured"),
    ("gorules:token", "no GoRules personal access token configured for the default instance"),
])
def test_a_missing_url_or_pat_fails_the_preview_not_the_up(token_stack, seeded, brms, missing, expected) -> None:
    ts = token_stack([config_entry(seeded, "staging")])
    ts.stack.remove_config(missing)
    brms.reset_metrics()
    message = _failed_preview(ts.stack)
    assert expected in message and missing in message
    assert "Traceback" not in message
    assert requests_made(brms) == 0


def test_a_brms_error_is_one_line_without_a_traceback(token_stack, seeded, brms) -> None:
    # A valid-looking project id that does not exist: the BRMS answers 404 at the regenerate.
    entry = config_entry(seeded, "staging")
    entry["projectId"] = "0b7c7f4e-0000-4000-8000-00000000dead"
    ts = token_stack([entry])
    with pytest.raises(auto.errors.CommandError) as caught:
        ts.stack.up(on_output=lambda _line: None)
    message = str(caught.value)
    assert "HTTP 404" in message and "environment " + entry["environmentId"] in message
    assert "Traceback" not in message and 'File "' not in message
    error_lines = [line for line in message.splitlines() if "HTTP 404" in line]
    assert error_lines, message

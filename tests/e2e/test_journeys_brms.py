"""Issue 12, journeys 2, 3 and 6 through the real engine: answers that are not the BRMS's,
another BRMS than the one a token was minted on, and credentials changed after an up."""

from __future__ import annotations

from pathlib import Path

import pytest
from pulumi import automation as auto

from gorules_tokens_localbrms.testing import LocalBRMSServer
from support.brms import config_entry, env_by_name, evaluate, live_token, quiet, stack_resources
from support.ingress import Ingress

pytestmark = pytest.mark.engine


def test_journey2_nothing_dropped_or_revoked_on_an_answer_that_is_not_the_brms(
    engine, brms, seeded, token_stack
) -> None:
    engine.extra_env.update(GORULES_RETRY_ATTEMPTS="2", GORULES_RETRY_DEADLINE="5", GORULES_HTTP_TIMEOUT="1")
    project = seeded["projectId"]
    with Ingress(brms.url) as ingress:
        ts = token_stack([config_entry(seeded, name, revokeOnDelete=True) for name in ("staging", "production")])
        ts.stack.set_config("gorules:apiUrl", auto.ConfigValue(ingress.url))
        ts.up()
        before = ts.state_tokens()
        assert set(before) == {"staging", "production"}

        for mode, status in (("html404", "HTTP 404"), ("route404", "HTTP 404"), ("project404", "HTTP 404"),
                             (401, "HTTP 401"),
                             (403, "HTTP 403"), (502, "HTTP 502"), ("timeout", "ReadTimeout")):
            ingress.mode = "proxy" if mode == "timeout" else mode
            if mode == "timeout":
                brms.add_fault(method="GET", route="/api/projects/{projectId}/environments", delay_ms=2500)
            with pytest.raises(auto.errors.CommandError) as caught:
                ts.stack.refresh(on_output=quiet)
            brms.clear_faults()
            message = str(caught.value)
            assert ingress.url in message and status in message, (mode, message[-1500:])
            assert ts.state_tokens() == before, f"{mode}: the state changed"

        for mode in ("html404", "project404"):  # a 404 for the project is never a revoke either
            ingress.mode = mode
            with pytest.raises(auto.errors.CommandError) as caught:
                ts.stack.destroy(on_output=quiet)
            assert ingress.url in str(caught.value) and "HTTP 404" in str(caught.value)
            assert ts.state_tokens() == before
        assert "revokeOnDelete: false" in str(caught.value)

        ingress.mode = "proxy"
        ts.stack.refresh(on_output=quiet)
        assert ts.state_tokens() == before
        for name, token in before.items():
            assert evaluate(brms, project, env_by_name(seeded, name)["id"], token) == 200


def test_journey3_another_brms_is_a_replace_in_preview_and_refresh_refuses_it(
    brms, seeded, token_stack, tmp_path: Path
) -> None:
    project, env_id = seeded["projectId"], env_by_name(seeded, "staging")["id"]
    ts = token_stack([config_entry(seeded, "staging")])
    ts.up()
    token = ts.tokens()["staging"]
    assert stack_resources(ts)["staging"]["brms_url"] == brms.url

    with LocalBRMSServer(tmp_path / "other.db", pat=brms.pat) as other:
        ts.stack.set_config("gorules:apiUrl", auto.ConfigValue(other.url + "/api/"))
        other.reset_metrics()
        assert ts.preview().change_summary.get("replace") == 1
        # A plain refresh runs with the config saved by the last up (still the first BRMS);
        # with the program (or `up --refresh`) it meets the new URL and must refuse it.
        with pytest.raises(auto.errors.CommandError) as caught:
            ts.stack.refresh(on_output=quiet, run_program=True)
        message = str(caught.value)
        assert f"minted on the BRMS at {brms.url}, but the stack now points at {other.url}" in message
        assert other.request_count() == 0
    assert ts.state_tokens() == {"staging": token}
    assert evaluate(brms, project, env_id, token) == 200

    ts.stack.set_config("gorules:apiUrl", auto.ConfigValue(brms.url))
    assert ts.preview().change_summary == {"same": 2}
    ts.stack.refresh(on_output=quiet, run_program=True)  # the failed one saved the other URL
    assert ts.state_tokens() == {"staging": token}


def test_journey6_refresh_and_destroy_after_a_pat_change_say_why_and_how(brms, seeded, token_stack) -> None:
    project = seeded["projectId"]
    ts = token_stack([config_entry(seeded, "staging", revokeOnDelete=True)])
    ts.up()
    token = ts.tokens()["staging"]

    # An up with a wrong PAT fails, but the engine saves that PAT with the provider's config.
    ts.stack.set_config("gorules:token", auto.ConfigValue("pat-wrong-0123456789abcdef", secret=True))
    ts.configure([config_entry(seeded, "staging", revokeOnDelete=True), config_entry(seeded, "production")])
    with pytest.raises(auto.errors.CommandError):
        ts.up()
    ts.stack.set_config("gorules:token", auto.ConfigValue(brms.pat, secret=True))  # fixed

    for command in ("refresh", "destroy"):
        result = ts.engine.cli(command, "--yes", "--stack", ts.stack.name, cwd=ts.work_dir, check=False)
        assert result.returncode != 0
        output = result.stdout + result.stderr
        assert "HTTP 401" in output, output[-2000:]
        assert "saved in the stack's state by the last `pulumi up`" in output
        assert "--run-program" in output and "run `pulumi up` first" in output
        assert "pat-wrong" not in output
    assert ts.state_tokens() == {"staging": token}

    # The fixes the message gives work.
    ts.engine.cli("refresh", "--run-program", "--yes", "--stack", ts.stack.name, cwd=ts.work_dir)
    ts.engine.cli("destroy", "--run-program", "--yes", "--stack", ts.stack.name, cwd=ts.work_dir)
    assert ts.state_tokens() == {}
    assert evaluate(brms, project, env_by_name(seeded, "staging")["id"], token) == 401  # revoked on destroy
    assert live_token(brms, project, env_by_name(seeded, "staging")["id"]) != token

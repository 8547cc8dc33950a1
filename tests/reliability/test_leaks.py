"""Where a credential could leak, looked at directly: the pickled `__provider`, and the
provider's stderr (which the engine forwards into the CLI output the leak watch scans).

Every test of this suite also has its folders and CLI output scanned at teardown
(conftest.py), and test_zz_leaks.py scans everything at the end.
"""

from __future__ import annotations

import base64

import dill
import pytest

from gorules_tokens_localbrms.testing import DEPLOY_ROUTE, REGENERATE_ROUTE
from gorules_tokens.provider import EnvironmentTokenProvider
from reliability._harness import by_status, entry, live_tokens, request_rows
from support import state
from support.brms import env_by_name

pytestmark = pytest.mark.engine


def test_pickled_provider_is_a_reference_without_any_credential(token_stack, seeded, brms, figures, leak_watch) -> None:
    project_id = seeded["projectId"]
    names = {"staging": env_by_name(seeded, "staging")["id"], "production": env_by_name(seeded, "production")["id"]}
    driver = token_stack([entry(project_id, env_id, name) for name, env_id in names.items()])
    driver.up()
    snap = driver.snapshot()
    live = live_tokens(brms, project_id, leak_watch)
    credentials = [brms.pat, brms.url, *live.values(), *(snap.token(n) for n in names)]

    assert set(snap.providers) == set(names)
    for name, encoded in snap.providers.items():
        raw = base64.b64decode(encoded)
        for value in credentials:
            assert value.encode() not in raw, f"{name}: a credential or the URL is inside __provider"
        assert b"gorules_tokens.provider" in raw and b"EnvironmentTokenProvider" in raw, "not pickled by reference"
        assert len(raw) < 200
        provider = dill.loads(raw)
        assert isinstance(provider, EnvironmentTokenProvider)
        assert provider.__reduce__() == (EnvironmentTokenProvider, ())  # nothing but the class
        assert provider._config.api_url is None and provider._config.token is None
        figures.record("pickled_provider", "bytes", len(raw))

    # At rest, `__provider` is the same credential-free pickle in inputs and outputs, stored in
    # plain text since it holds no secret (issue 18: a ciphertext was 2.7 times the bytes); the
    # token is a secret (ciphertext).
    checkpoint = state.stack_checkpoint(driver.ts.engine.backend, "gorules-tokens", "test")
    for resource in state.resources(checkpoint):
        if resource["type"].endswith("EnvironmentToken"):
            for part in ("inputs", "outputs"):
                value = resource[part]["__provider"]
                assert isinstance(value, str) and value == snap.providers[resource["urn"].rsplit("::", 1)[1]], part
                assert isinstance(resource["outputs"]["access_token"], dict)
                assert "ciphertext" in resource["outputs"]["access_token"]
            if resource["urn"].endswith("::production"):
                # The Agent environment's previous token (the seeded one, in the leak watch) is a secret too.
                assert "ciphertext" in resource["outputs"]["previous_access_token"]
    [stack_resource] = [r for r in state.resources(checkpoint) if r["type"] == "pulumi:pulumi:Stack"]
    assert "ciphertext" in stack_resource["outputs"]["previousAccessTokens"]


def test_provider_stderr_is_captured_and_carries_no_secret(token_stack, seeded, brms, leak_watch) -> None:
    """A failed redeploy makes the provider log a warning on its stderr. It must reach the
    captured CLI output (so the leak watch really sees the provider's stderr) and name
    the environment and release, never the token."""
    project_id = seeded["projectId"]
    production = env_by_name(seeded, "production")
    driver = token_stack([entry(project_id, production["id"], "production")])
    brms.reset_metrics()
    brms.add_fault(method="POST", route=DEPLOY_ROUTE, status=500, times=1)
    driver.up()
    out = driver.last_output
    brms.clear_faults()
    rows = request_rows(brms)
    assert by_status(rows, REGENERATE_ROUTE) == {200: 1}
    assert by_status(rows, DEPLOY_ROUTE) == {500: 1}  # not retried: a deploy may have happened
    snap = driver.snapshot()
    assert snap.tokens["production"]["redeploy_status"] == "failed:500"
    assert "got a new access token but redeploying release" in out, out[-3000:]
    assert production["id"] in out
    token = snap.token("production")
    assert token == live_tokens(brms, project_id, leak_watch)[production["id"]]
    assert token not in out and brms.pat not in out

"""A rotation through the real engine, with the `deployment` environment's Deployment on a real
S3-compatible server (versitygw): the provider's redeploy puts a zip listing the new token into
the bucket, and the Agent listener serving that bucket switches at its next poll, not before."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gorules_tokens_localbrms.testing import LocalBRMSServer
from support.brms import config_entry, evaluate
from support.s3 import S3Server

pytestmark = pytest.mark.engine
PATH = "gorules"


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    with S3Server(tmp_path_factory.mktemp("s3")) as server:
        yield server


def _tokens_in_bucket(s3: S3Server, bucket: str, key: str) -> tuple[str, ...]:
    data = s3.archive(bucket, key).release_data
    assert data is not None, "the zip has no valid .config/project.json"
    return data.access_tokens


def _agent(brms: LocalBRMSServer, seeded: dict[str, Any], token: str) -> int:
    """The Agent listener's answer as it is now (no wait for a poll)."""
    return brms.agent_evaluate(seeded["projectKey"], token).status_code


def test_rotation_reaches_the_bucket_and_the_agent_switches_at_its_poll(
    token_stack, brms: LocalBRMSServer, s3: S3Server
) -> None:
    bucket = s3.new_bucket()
    brms.configure_deployment("aws_s3", s3.deployment_configuration(bucket, PATH))
    seeded = brms.seed()
    key = f"{PATH}/{seeded['projectKey']}"
    (baked,) = _tokens_in_bucket(s3, bucket, key)  # the seed's deploy

    ts = token_stack([config_entry(seeded, "production")])
    ts.up()
    first = ts.tokens()["production"]
    assert ts.resource_outputs("production")["redeploy_status"] == "deployed"
    assert _tokens_in_bucket(s3, bucket, key) == (first,)
    assert evaluate(brms, seeded["projectId"], "", first, agent=True) == 200  # after its next poll
    assert _agent(brms, seeded, baked) == 401

    ts.configure([config_entry(seeded, "production", keepers={"rotation": "2"})])
    with brms.agent_held():  # the Agent cannot poll while the rotation runs
        up = ts.up()
        assert up.summary.resource_changes.get("replace") == 1
        second = ts.tokens()["production"]
        assert second != first
        # The provider's redeploy wrote the zip: the bucket lists the new token only ...
        assert _tokens_in_bucket(s3, bucket, key) == (second,)
        # ... while the Agent still serves the zip it loaded before: old token in, new out.
        assert (_agent(brms, seeded, first), _agent(brms, seeded, second)) == (200, 401)
    brms.wait_for_agent_poll()  # its first poll after the redeploy
    assert (_agent(brms, seeded, first), _agent(brms, seeded, second)) == (401, 200)

    # One object for the project, under the Deployment's path; the tokens never in any log.
    assert [o["key"] for o in s3.listing(bucket)] == [key]
    logs = Path(brms.log_path).read_text(errors="replace") + s3.log_path.read_text(errors="replace")
    for token in (baked, first, second):
        assert token not in logs

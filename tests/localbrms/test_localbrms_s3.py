"""Deployments on S3-compatible storage, against a real S3 server (versitygw, tests/support/s3.py).

A deploy to a `deployment` environment whose Deployment names a bucket puts the release zip
there, in the layout the GoRules Agent reads; the Agent listener serving that Deployment lists
and downloads from the bucket as the Agent's S3 provider does (path + '/', one level, object
key as stored, ETags), and switches tokens at its poll.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gorules_tokens_localbrms import release_zip
from gorules_tokens_localbrms.testing import LocalBRMSServer
from support.s3 import S3Server

PATH = "gorules/prod"  # the Deployment's "Path" inside the bucket


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    with S3Server(tmp_path_factory.mktemp("s3")) as server:
        yield server


@pytest.fixture(scope="module")
def bucket(s3: S3Server) -> str:
    return s3.new_bucket()


@pytest.fixture(scope="module")
def brms(tmp_path_factory: pytest.TempPathFactory, s3: S3Server, bucket: str) -> Iterator[LocalBRMSServer]:
    db = tmp_path_factory.mktemp("brms-s3") / "brms.db"
    with LocalBRMSServer(db) as server:
        server.configure_deployment("aws_s3", s3.deployment_configuration(bucket, PATH))
        yield server


def _auth(server: LocalBRMSServer) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.pat}"}


def _env(seeded: dict, key: str) -> dict:
    return next(e for e in seeded["environments"] if e["key"] == key)


def _regenerate(server: LocalBRMSServer, seeded: dict, env_id: str) -> str:
    answer = httpx.post(
        f"{server.url}/api/projects/{seeded['projectId']}/environments/{env_id}/regenerate-token",
        headers=_auth(server), timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["accessToken"])


def _deploy(server: LocalBRMSServer, seeded: dict, env_id: str) -> httpx.Response:
    return httpx.post(
        f"{server.url}/api/projects/{seeded['projectId']}/releases/deploy",
        json={"releaseId": seeded["releaseId"], "environmentId": env_id}, headers=_auth(server), timeout=30,
    )


def _loaded_keys(server: LocalBRMSServer) -> set[str]:
    return {p["key"] for p in server.agent_status()["projects"]}


def _zip(entries: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in entries.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def test_the_server_starts_fast_and_checks_signatures(s3: S3Server, bucket: str) -> None:
    assert s3.startup_seconds is not None and s3.startup_seconds < 5, s3.startup_seconds
    import boto3
    from botocore.exceptions import ClientError

    wrong = boto3.session.Session().client(
        "s3", endpoint_url=s3.endpoint, region_name="us-east-1",
        aws_access_key_id=s3.access_key, aws_secret_access_key="not-the-secret",
    )
    with pytest.raises(ClientError) as refused:
        wrong.list_objects_v2(Bucket=bucket)
    assert refused.value.response["Error"]["Code"] == "SignatureDoesNotMatch"


def test_a_deploy_writes_the_release_zip_in_the_agents_layout(
    brms: LocalBRMSServer, s3: S3Server, bucket: str
) -> None:
    seeded = brms.seed()  # seeding deploys the release to both environments
    prod = _env(seeded, "production")
    key = f"{PATH}/{seeded['projectKey']}"
    assert key in {o["key"] for o in s3.listing(bucket)}
    # One object per project: the `brms` environment (staging) writes nothing.
    assert [o for o in s3.listing(bucket) if seeded["projectKey"] in o["key"]] == [
        o for o in s3.listing(bucket) if o["key"] == key
    ]
    with zipfile.ZipFile(io.BytesIO(s3.get(bucket, key))) as archive:
        assert sorted(archive.namelist()) == [".config/project.json", "shipping"]
        config = json.loads(archive.read(".config/project.json"))
    assert config["accessTokens"] == [prod["accessToken"]]
    assert config["project"] == {"id": seeded["projectId"], "key": seeded["projectKey"],
                                 "name": f"Shipping demo ({seeded['projectKey']})"}
    assert config["release"]["id"] == seeded["releaseId"]
    assert isinstance(config["release"]["version"], str)  # the Agent refuses a config without it
    assert config["environment"] == {"id": prod["id"], "key": "production", "name": "Production"}
    read = s3.archive(bucket, key)
    assert read.release_data is not None and read.release_data.project_id == seeded["projectId"]
    assert set(read.decisions) == {"shipping"}


def test_the_listener_serves_from_the_bucket_and_switches_at_its_poll(
    brms: LocalBRMSServer, s3: S3Server, bucket: str
) -> None:
    seeded = brms.seed()
    prod = _env(seeded, "production")
    project, old, key = seeded["projectKey"], prod["accessToken"], f"{PATH}/{seeded['projectKey']}"
    brms.wait_for_agent_poll()
    assert brms.agent_evaluate(project, old).status_code == 200

    new = _regenerate(brms, seeded, prod["id"])
    with brms.agent_held():  # no poll in here
        assert _deploy(brms, seeded, prod["id"]).json()["status"] == "deployed"
        # The bucket lists the new token at once; the listener still serves what it loaded.
        assert s3.archive(bucket, key).release_data.access_tokens == (new,)  # type: ignore[union-attr]
        assert brms.agent_evaluate(project, old).status_code == 200
        assert brms.agent_evaluate(project, new).status_code == 401
    brms.wait_for_agent_poll()
    assert brms.agent_evaluate(project, new).status_code == 200
    denied = brms.agent_evaluate(project, old)
    assert (denied.status_code, denied.json()) == (401, {"message": "Invalid X-Access-Token Header"})

    # What it serves is the bucket's: the object gone, the project is gone at the next poll.
    s3.client.delete_object(Bucket=bucket, Key=key)
    brms.wait_for_agent_poll()
    assert project not in _loaded_keys(brms)
    assert brms.agent_evaluate(project, new).json() == {"message": "Project not found"}


def test_only_objects_directly_under_the_path_are_projects_named_as_stored(
    brms: LocalBRMSServer, s3: S3Server, bucket: str
) -> None:
    seeded = brms.seed()
    token = _env(seeded, "production")["accessToken"]
    data = s3.get(bucket, f"{PATH}/{seeded['projectKey']}")
    copy = f"copy-{seeded['projectKey']}.zip"
    s3.put(bucket, f"{PATH}/{copy}", data)
    s3.put(bucket, f"{PATH}/nested/{seeded['projectKey']}", data)  # a sub-folder: not listed
    s3.put(bucket, f"elsewhere/{copy}", data)  # outside the path
    brms.wait_for_agent_poll()
    loaded = _loaded_keys(brms)
    assert copy in loaded and seeded["projectKey"] in loaded
    assert not any(k.startswith(("nested/", "elsewhere/", PATH)) for k in loaded)
    assert brms.agent_evaluate(copy, token).status_code == 200  # the key as stored, `.zip` included
    assert brms.agent_evaluate(copy.removesuffix(".zip"), token).status_code == 404
    # By project id: the project config in the zip, whichever object carries it.
    assert brms.agent_evaluate(seeded["projectId"], token).status_code == 200


def test_decisions_are_found_by_their_path_as_is(brms: LocalBRMSServer, s3: S3Server, bucket: str) -> None:
    seeded = brms.seed()
    token = _env(seeded, "production")["accessToken"]
    project = seeded["projectKey"]
    brms.wait_for_agent_poll()
    assert brms.agent_evaluate(project, token, key="SHIPPING").status_code == 200  # lower-cased
    suffixed = brms.agent_evaluate(project, token, key="shipping.json")
    assert (suffixed.status_code, suffixed.json()) == (400, {"message": "Loader error"})

    stored = s3.archive(bucket, f"{PATH}/{project}")
    jdm = stored.decisions["shipping"]
    assert stored.release_data is not None
    config = {**stored.release_data.raw, "project": {"id": "11111111-2222-4333-8444-555555555555", "key": "p"}}
    name = f"suffixed-{project}"
    s3.put(bucket, f"{PATH}/{name}", _zip({
        "Pricing/Fee.json": json.dumps(jdm), ".config/project.json": json.dumps(config), "Pricing/": "",
    }))
    brms.wait_for_agent_poll()
    assert brms.agent_evaluate(name, token, key="pricing/fee.json").status_code == 200
    assert brms.agent_evaluate(name, token, key="pricing/fee").json() == {"message": "Loader error"}
    points = httpx.get(f"{brms.agent_url}/api/projects/{name}/entrypoints", headers={"X-Access-Token": token})
    assert points.json() == {"entrypoints": [{"path": "pricing/fee.json", "type": "graph"}]}


def test_a_zip_without_a_valid_project_config_is_served_without_a_token(
    brms: LocalBRMSServer, s3: S3Server, bucket: str
) -> None:
    seeded = brms.seed()
    jdm = s3.archive(bucket, f"{PATH}/{seeded['projectKey']}").decisions["shipping"]
    open_key, bad_key = f"open-{seeded['projectKey']}", f"badcfg-{seeded['projectKey']}"
    s3.put(bucket, f"{PATH}/{open_key}", _zip({"shipping": json.dumps(jdm)}))
    # A config whose release has no version does not parse for the Agent: no token check either.
    s3.put(bucket, f"{PATH}/{bad_key}", _zip({
        "shipping": json.dumps(jdm),
        ".config/project.json": json.dumps({"project": {"id": "x", "key": "y"}, "release": {"id": "z"},
                                            "accessTokens": ["only-this"]}),
    }))
    brms.wait_for_agent_poll()
    for key in (open_key, bad_key):
        assert brms.agent_evaluate(key, None).status_code == 200
        info = httpx.get(f"{brms.agent_url}/api/projects/{key}", timeout=10)
        assert (info.status_code, info.text) == (400, "Project data not available")
    info = httpx.get(f"{brms.agent_url}/api/projects/{seeded['projectKey']}", timeout=10)
    assert info.json() == {"project_id": seeded["projectId"], "project_key": seeded["projectKey"],
                           "release_id": seeded["releaseId"], "release_version": "1.0.0"}
    missing = httpx.get(f"{brms.agent_url}/api/projects/no-such-project", timeout=10)
    assert (missing.status_code, missing.text) == (404, "Project not found")


def test_a_zip_that_fails_to_load_drops_the_project_and_a_failed_listing_keeps_all(
    brms: LocalBRMSServer, s3: S3Server, bucket: str
) -> None:
    seeded = brms.seed()
    token = _env(seeded, "production")["accessToken"]
    project = seeded["projectKey"]
    key = f"{PATH}/{project}"
    good = s3.get(bucket, key)
    brms.wait_for_agent_poll()
    assert brms.agent_evaluate(project, token).status_code == 200

    s3.put(bucket, key, _zip({"shipping": "not json at all"}))
    brms.wait_for_agent_poll()
    assert project not in _loaded_keys(brms)  # the Agent drops a project whose new zip fails
    s3.put(bucket, key, good)
    brms.wait_for_agent_poll()
    assert brms.agent_evaluate(project, token).status_code == 200

    configuration = s3.deployment_configuration(bucket, PATH)
    try:
        brms.configure_deployment("aws_s3", {**configuration, "secretAccessKey": "wrong-secret"})
        before = brms.agent_status()["pollsCompleted"]
        brms.wait_for_agent_poll()
        assert brms.agent_status()["pollsCompleted"] > before
        assert project in _loaded_keys(brms)  # the listing failed: everything stays as loaded
        assert brms.agent_evaluate(project, token).status_code == 200
    finally:
        brms.configure_deployment("aws_s3", configuration)


def test_a_deploy_whose_zip_cannot_be_written_fails_and_deploys_nothing(
    brms: LocalBRMSServer, s3: S3Server, bucket: str
) -> None:
    seeded = brms.seed()
    prod = _env(seeded, "production")
    configuration = s3.deployment_configuration(bucket, PATH)
    new = _regenerate(brms, seeded, prod["id"])
    try:
        brms.configure_deployment("aws_s3", {**configuration, "bucket": "no-such-bucket-here"})
        failed = _deploy(brms, seeded, prod["id"])
    finally:
        brms.configure_deployment("aws_s3", configuration)
    assert failed.status_code == 502, failed.text
    assert failed.json()["message"].startswith("deploy.storageFailed")
    assert configuration["secretAccessKey"] not in failed.text and new not in failed.text
    # Nothing deployed: the bucket still lists the token of the last good deploy.
    tokens = s3.archive(bucket, f"{PATH}/{seeded['projectKey']}").release_data.access_tokens  # type: ignore[union-attr]
    assert tokens == (prod["accessToken"],)


def test_views_never_show_the_secret_key_and_bad_configurations_name_the_field(
    brms: LocalBRMSServer, s3: S3Server, bucket: str
) -> None:
    seeded = brms.seed()
    secret = s3.secret_key
    listed = httpx.get(f"{brms.url}/api/projects/{seeded['projectId']}/environments", headers=_auth(brms))
    prod = next(e for e in listed.json() if e["key"] == "production")
    assert prod["deployment"]["provider"] == "aws_s3"
    assert prod["deployment"]["configuration"]["bucket"] == bucket
    assert prod["deployment"]["configuration"]["path"] == PATH
    assert "secretAccessKey" not in prod["deployment"]["configuration"]
    assert secret not in listed.text
    assert secret not in json.dumps(brms.admin("GET", "/deployments/localbrms-agent"))
    bad = httpx.put(f"{brms.url}/_localbrms/deployments/other", headers=_auth(brms),
                    json={"provider": "aws_s3", "configuration": {"path": "x"}})
    assert bad.status_code == 400 and "configuration.bucket" in bad.json()["message"]
    assert secret not in Path(brms.log_path).read_text(errors="replace")


def test_the_cli_points_a_deployment_at_a_bucket(tmp_path: Path, s3: S3Server, bucket: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """`python -m gorules_tokens_localbrms deployment` then `seed` on the same file: the seed's deploy lands in S3."""
    from gorules_tokens_localbrms.cli import main

    db = tmp_path / "cli.db"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3.secret_key)
    assert main(["deployment", "--db", str(db), "--s3-bucket", bucket, "--s3-path", "cli",
                 "--s3-endpoint", s3.endpoint, "--s3-force-path-style"]) == 0
    assert main(["seed", "--db", str(db), "--project-key", "cli-project"]) == 0
    assert "cli/cli-project" in {o["key"] for o in s3.listing(bucket)}
    assert release_zip.read(s3.get(bucket, "cli/cli-project")).release_data is not None

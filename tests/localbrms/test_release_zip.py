"""The release zip read with the GoRules Agent loader's rules, and an S3 Deployment's
configuration read as GoRules' form takes it (no server needed)."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import pytest

from gorules_tokens_localbrms import release_zip
from gorules_tokens_localbrms.object_storage import S3Location, StorageConfigError

GRAPH = {"contentType": "application/vnd.gorules.decision", "nodes": [], "edges": []}
CONFIG = {"version": "1", "project": {"id": "p-id", "key": "p-key"}, "accessTokens": ["t1", "t2"],
          "release": {"id": "r-id", "version": "1.0.0"}}


def _zip(entries: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in entries.items():
            archive.writestr(name, content if isinstance(content, str) else json.dumps(content))
    return buffer.getvalue()


def test_build_then_read_gives_the_decisions_by_path_and_the_release_data() -> None:
    data = release_zip.build(CONFIG, {"shipping": GRAPH, "Pricing/Tiers": json.dumps(GRAPH)})
    assert data == release_zip.build(CONFIG, {"Pricing/Tiers": GRAPH, "shipping": GRAPH})  # same bytes
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert sorted(archive.namelist()) == [".config/project.json", "Pricing/Tiers", "shipping"]
    read = release_zip.read(data)
    assert set(read.decisions) == {"shipping", "pricing/tiers"}  # lower-cased, as the Agent keys them
    assert read.release_data is not None
    assert (read.release_data.project_id, read.release_data.release_version) == ("p-id", "1.0.0")
    assert read.can_access("t2") and not read.can_access("t3") and not read.can_access(None)
    assert "t1" not in repr(read.release_data)


@pytest.mark.parametrize("config", [
    {**CONFIG, "project": {"key": "p-key"}},
    {**CONFIG, "release": {"id": "r-id"}},
    {**CONFIG, "release": {"id": "r-id", "version": 1}},
    {**CONFIG, "version": 1},
    {**CONFIG, "accessTokens": "t1"},
    [CONFIG],
    "not json",
], ids=["no-project-id", "no-release-version", "numeric-release-version", "numeric-version",
        "tokens-not-a-list", "not-an-object", "not-json"])
def test_a_config_of_another_shape_means_no_token_check(config: Any) -> None:
    read = release_zip.read(_zip({"shipping": GRAPH, ".config/project.json": config}))
    assert read.release_data is None
    assert read.can_access(None) and read.can_access("anything")
    assert set(read.decisions) == {"shipping"}


def test_tokens_default_to_none_accepted_and_unknown_fields_are_ignored() -> None:
    config = {k: v for k, v in CONFIG.items() if k not in ("accessTokens", "version")}
    read = release_zip.read(_zip({"a": GRAPH, ".config/project.json": {**config, "extra": {"x": 1}}}))
    assert read.release_data is not None and read.release_data.access_tokens == ()
    assert not read.can_access("") and not read.can_access("t1")


def test_config_folder_folders_and_non_graph_json_are_skipped() -> None:
    read = release_zip.read(_zip({
        "First Level/": "", "First Level/Nested": GRAPH, ".config/other.json": GRAPH,
        "notes.json": {"hello": "world"}, "list.json": [1, 2], ".config/project.json": CONFIG,
    }))
    assert set(read.decisions) == {"first level/nested"}


@pytest.mark.parametrize("data", [b"not a zip", _zip({"a": GRAPH, "b": "{not json"})], ids=["not-zip", "entry-not-json"])
def test_what_the_agent_cannot_load_raises(data: bytes) -> None:
    with pytest.raises(release_zip.ReleaseZipError):
        release_zip.read(data)


def test_s3_configuration_spellings_defaults_and_the_secret_kept_out_of_repr() -> None:
    camel = S3Location.from_configuration({"bucket": "b", "path": "a/b", "forcePathStyle": True,
                                           "accessKeyId": "AK", "secretAccessKey": "SECRET"})
    snake = S3Location.from_configuration({"bucket": "b", "prefix": "a/b/", "force_path_style": True,
                                           "access_key_id": "AK", "secret_access_key": "SECRET"})
    assert (camel.folder, snake.folder) == ("a/b/", "a/b/")  # the Agent appends the '/'
    assert camel.force_path_style and camel.region == "us-east-1"
    assert "SECRET" not in repr(camel) and "SECRET" not in json.dumps(camel.public())
    assert S3Location.from_configuration({"bucket": "b", "path": ""}).folder == ""


@pytest.mark.parametrize("configuration,field", [
    ({}, "configuration.bucket"),
    ({"bucket": 3}, "configuration.bucket"),
    ({"bucket": "b", "forcePathStyle": "yes"}, "configuration.forcePathStyle"),
    ({"bucket": "b", "accessKeyId": "AK"}, "configuration.accessKeyId"),
], ids=["no-bucket", "bucket-not-string", "path-style-not-bool", "key-without-secret"])
def test_a_bad_s3_configuration_names_the_field(configuration: dict[str, Any], field: str) -> None:
    with pytest.raises(StorageConfigError, match=field):
        S3Location.from_configuration(configuration)

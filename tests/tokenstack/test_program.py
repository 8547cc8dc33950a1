"""The token stack program under the SDK's mocks: what it registers, with which provider."""

from __future__ import annotations

import json

import pulumi
import pytest

from gorules_tokens import EnvironmentToken
from gorules_tokens.fields import OUTPUT_NAMES
from tokenstack.program import StackToken, run

P = "3f1c2a9e-0000-4000-8000-000000000001"
E = "3f1c2a9e-0000-4000-8000-000000000002"
TYPE = "pulumi-python:dynamic/gorules:EnvironmentToken"


class Mocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.registered: list[pulumi.runtime.MockResourceArgs] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):  # type: ignore[override]
        self.registered.append(args)
        if args.typ.startswith("pulumi:providers:"):
            return "provider-id", dict(args.inputs)
        return f"{P}/{E}", {**args.inputs, "access_token": "t", "fingerprint": "sha256:0", "rotated_at": "now"}

    def call(self, args: pulumi.runtime.MockCallArgs):  # type: ignore[override]
        return {}


@pytest.fixture
def mocks() -> Mocks:
    mocks = Mocks()
    pulumi.runtime.set_mocks(mocks, project="gorules-tokens", stack="dev", preview=False)
    pulumi.runtime.set_all_config({
        "gorules-tokens:environments": json.dumps([{"name": "staging", "projectId": P, "environmentId": E}]),
        "gorules:apiUrl": "https://brms.example.com",
        "other:setting": "not for the provider",
    })
    return mocks


def test_the_stack_token_is_the_same_resource_type() -> None:
    # Another type token would be another URN: every token replaced, i.e. regenerated.
    assert StackToken._resource_type_name == EnvironmentToken._resource_type_name == "dynamic/gorules:EnvironmentToken"


def test_the_stack_token_resolves_the_outputs_the_stack_exports() -> None:
    assert set(StackToken.resolved_outputs) < OUTPUT_NAMES
    assert {"access_token", "fingerprint", "rotated_at", "next_rotation_at", "brms_url"} <= set(StackToken.resolved_outputs)


def test_tokens_use_the_stack_provider_which_holds_only_gorules_settings(mocks: Mocks) -> None:
    pulumi.runtime.test(run)()  # returns once every registration is answered

    providers = [a for a in mocks.registered if a.typ == "pulumi:providers:pulumi-python"]
    tokens = [a for a in mocks.registered if a.typ == TYPE]
    assert [p.name for p in providers] == ["default"]  # the URN of the engine's default provider
    assert providers[0].inputs == {"gorules:apiUrl": "https://brms.example.com"}  # no environments list
    assert [t.name for t in tokens] == ["staging"]
    # (The mocks spell the stack parent into the URN; the engine leaves it out for providers.)
    assert (tokens[0].provider or "").endswith("pulumi:providers:pulumi-python::default::provider-id")


def test_the_environments_file_declares_the_same_tokens_as_the_inline_list(
    mocks: Mocks, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The engine tells the program the folder of Pulumi.yaml; the mocks' placeholder is replaced.
    monkeypatch.setattr(pulumi.runtime.settings.SETTINGS, "root_directory", str(tmp_path))
    (tmp_path / "envs.yaml").write_text(f"- name: staging\n  projectId: {P}\n  environmentId: {E}\n  rotateAfter: 30d\n")
    pulumi.runtime.set_all_config({"gorules-tokens:environmentsFile": "envs.yaml",
                                   "gorules:apiUrl": "https://brms.example.com"})
    pulumi.runtime.test(run)()

    [token] = [a for a in mocks.registered if a.typ == TYPE]
    inputs = {k: v for k, v in token.inputs.items() if k != "__provider"}
    assert (token.name, inputs) == ("staging", {"project_id": P, "environment_id": E, "rotate_after": "30d"})


def test_the_list_and_the_file_at_once_fail_the_program(mocks: Mocks, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pulumi.runtime.settings.SETTINGS, "root_directory", str(tmp_path))
    (tmp_path / "envs.yaml").write_text("[]\n")
    pulumi.runtime.set_all_config({
        "gorules-tokens:environments": json.dumps([{"name": "staging", "projectId": P, "environmentId": E}]),
        "gorules-tokens:environmentsFile": "envs.yaml",
    })
    with pytest.raises(pulumi.RunError, match="are both set"):
        pulumi.runtime.test(run)()
    assert [a for a in mocks.registered if a.typ == TYPE] == []


@pytest.mark.parametrize("key, value, expected", [
    ("gorules:patId", "not a pat id!", "invalid BRMS config: gorules:patId: must be the PAT's id"),
    ("gorules-tokens:patWarnDays", "two weeks", "invalid config: gorules-tokens:patWarnDays: must be a whole number"),
])
def test_pat_settings_are_checked_at_preview(mocks: Mocks, key: str, value: str, expected: str) -> None:
    pulumi.runtime.set_all_config({
        "gorules-tokens:environments": json.dumps([{"name": "staging", "projectId": P, "environmentId": E}]),
        "gorules:apiUrl": "https://brms.example.com",
        key: value,
    })
    with pytest.raises(pulumi.RunError, match=expected):
        pulumi.runtime.test(run)()
    assert [a for a in mocks.registered if a.typ == TYPE] == []

"""The EnvironmentToken class: type token, props, secret option, mocks round-trip."""

import base64

import pulumi
import pytest
from pulumi.runtime import mocks as pulumi_mocks

from gorules_tokens import EnvironmentToken
from gorules_tokens.fields import OUTPUTS

P = "123e4567-e89b-12d3-a456-426614174000"
E = "223e4567-e89b-12d3-a456-426614174000"


class Mocks(pulumi.runtime.Mocks):
    def __init__(self):
        self.registered = []

    def new_resource(self, args):
        self.registered.append(args)
        state = dict(args.inputs)
        state.pop("__provider", None)
        state.update(access_token="envtok_mock_123456", fingerprint="sha256:0123456789abcdef",
                     rotated_at="2025-01-01T12:00:00Z")
        return f"{state['project_id']}/{state['environment_id']}", state

    def call(self, args):
        return {}


@pytest.fixture
def mocked(monkeypatch):
    mocks = Mocks()
    captured = []
    original = pulumi_mocks.MockMonitor.RegisterResource

    def register(self, request):
        captured.append(request)
        return original(self, request)

    monkeypatch.setattr(pulumi_mocks.MockMonitor, "RegisterResource", register)
    pulumi.runtime.set_mocks(mocks, project="proj", stack="dev", preview=False)
    yield mocks, captured


def test_type_token():
    assert EnvironmentToken._resource_type_name == "dynamic/gorules:EnvironmentToken"


@pulumi.runtime.test
def test_registration_and_secret_outputs(mocked):
    mocks, captured = mocked
    token = EnvironmentToken("tok", project_id=P, environment_id=E, keepers={"epoch": "1"}, rotate_after="30d",
                             opts=pulumi.ResourceOptions(additional_secret_outputs=["fingerprint"]))

    def check(values):
        access_token, fingerprint, id_ = values
        assert access_token == "envtok_mock_123456" and fingerprint.startswith("sha256:")
        assert id_ == f"{P}/{E}"
        request = next(r for r in captured if r.type != "pulumi:pulumi:Stack")
        assert request.type == "pulumi-python:dynamic/gorules:EnvironmentToken"
        assert set(request.additionalSecretOutputs) == {"access_token", "previous_access_token", "fingerprint"}
        args = mocks.registered[0]
        provider_blob = args.inputs["__provider"]
        if isinstance(provider_blob, dict):  # secret envelope (serialize_as_secret_always)
            provider_blob = provider_blob["value"]
        raw = base64.b64decode(provider_blob)
        assert len(raw) < 256 and b"gorules_tokens.provider" in raw
        assert args.inputs["keepers"] == {"epoch": "1"} and args.inputs["rotate_after"] == "30d"
        # outputs-only keys are registered (as nulls) so the SDK creates resolvers for them
        for field in OUTPUTS:
            assert hasattr(token, field.name)

    return pulumi.Output.all(token.access_token, token.fingerprint, token.id).apply(check)


@pulumi.runtime.test
def test_pickled_provider_is_registered_in_plain_text_as_it_holds_no_secret(mocked):
    # A secret would be stored encrypted: 2.7 times the bytes, twice per token (issue 18).
    mocks, _captured = mocked
    token = EnvironmentToken("plain", project_id=P, environment_id=E)

    def check(_id):
        blob = mocks.registered[0].inputs["__provider"]
        assert isinstance(blob, str), f"__provider registered as a secret: {blob!r}"
        raw = base64.b64decode(blob)
        assert b"gorules_tokens.provider" in raw and b"EnvironmentTokenProvider" in raw

    return token.id.apply(check)


@pulumi.runtime.test
def test_two_tokens_for_one_environment_fail_at_the_second_declaration(mocked):
    # Journey 4: they would regenerate against each other; the program refuses the second one.
    EnvironmentToken("first", project_id=P, environment_id=E)
    with pytest.raises(pulumi.RunError) as caught:
        EnvironmentToken("second", project_id=P, environment_id=E.upper())
    message = str(caught.value)
    assert "'second'" in message and "'first'" in message and E in message
    # Another environment, or the same one on another BRMS, is fine.
    EnvironmentToken("third", project_id=P, environment_id=P)
    EnvironmentToken("elsewhere", project_id=P, environment_id=E, api_url="https://other.example.com")

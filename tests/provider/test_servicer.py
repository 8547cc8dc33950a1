"""Drive the provider through pulumi 3.272's own gRPC servicer (no engine).

Catches wiring mistakes the direct method tests cannot: what the servicer does
with our results (ReadResult(None, {}) -> empty id, __provider re-insertion,
unknowns in Check/Diff, configure() with namespaced stack config).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pulumi.dynamic
import pytest
from google.protobuf import struct_pb2
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.output import Unknown
from pulumi.runtime import proto, rpc

from gorules_tokens.process import ProcessState, reset_process_state
from gorules_tokens.provider import EnvironmentTokenProvider


def _load_servicer_module() -> dict[str, Any]:
    """Exec pulumi/dynamic/__main__.py minus its unconditional ``main()`` call."""
    source = (Path(pulumi.dynamic.__file__).parent / "__main__.py").read_text()
    head, _, tail = source.rpartition("\nmain()")
    assert tail.strip() == "", "unexpected __main__.py layout"
    namespace: dict[str, Any] = {"__name__": "pulumi_dynamic_main_under_test"}
    exec(compile(head, "pulumi/dynamic/__main__.py", "exec"), namespace)
    return namespace


class Aborted(Exception):
    pass


class Context:
    def abort(self, code, details):
        raise Aborted(details)

    def set_code(self, code):
        pass

    def set_details(self, details):
        pass


def struct(props: dict[str, Any]) -> struct_pb2.Struct:
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(rpc.serialize_properties(props, {}))
    finally:
        loop.close()


def unstruct(s: struct_pb2.Struct, keep_unknowns: bool = False) -> dict[str, Any]:
    return rpc.deserialize_properties(s, keep_unknowns)


@pytest.fixture
def servicer(fake_brms, monkeypatch, sleeps, fast_retry_policy):
    module = _load_servicer_module()
    module["_PROVIDER_CACHE"].clear()
    svc = module["DynamicResourceProviderServicer"]()
    # Credentials arrive only through Configure (namespaced stack config).
    config = struct({"gorules:apiUrl": "https://brms.test/api", "gorules:token": fake_brms.pat, "proj:x": "y"})
    svc.Configure(proto.ConfigureRequest(args=config), Context())
    reset_process_state(ProcessState(policy=fast_retry_policy, transport=fake_brms.transport))
    return svc


def urn() -> str:
    return "urn:pulumi:dev::proj::pulumi-python:dynamic/gorules:EnvironmentToken::tok"


def test_full_lifecycle_through_servicer(servicer, fake_brms):
    blob = serialize_provider(EnvironmentTokenProvider())
    news = {"project_id": fake_brms.project_id, "environment_id": fake_brms.production,
            "keepers": {"epoch": "1"}, "__provider": blob}
    ctx = Context()

    checked = servicer.Check(proto.CheckRequest(urn=urn(), olds=struct({}), news=struct(news)), ctx)
    assert list(checked.failures) == []
    inputs = unstruct(checked.inputs)
    assert "redeploy" not in inputs and inputs["__provider"] == blob  # defaults are implied

    created = servicer.Create(proto.CreateRequest(urn=urn(), properties=checked.inputs), ctx)
    assert created.id == f"{fake_brms.project_id}/{fake_brms.production}"
    outs = unstruct(created.properties)
    assert outs["access_token"] == fake_brms.token(fake_brms.production)
    assert outs["redeploy_status"] == "deployed" and outs["__provider"] == blob
    assert "next_rotation_at" not in outs  # None is dropped on the wire

    same = servicer.Diff(proto.DiffRequest(id=created.id, urn=urn(), olds=created.properties,
                                           news=checked.inputs), ctx)
    assert same.changes == proto.DiffResponse.DIFF_NONE

    rotated = {**inputs, "keepers": {"epoch": "2"}}
    diff = servicer.Diff(proto.DiffRequest(id=created.id, urn=urn(), olds=created.properties,
                                           news=struct(rotated)), ctx)
    assert diff.changes == proto.DiffResponse.DIFF_SOME and list(diff.replaces) == ["keepers"]

    updated_inputs = {**inputs, "revoke_on_delete": True}
    upd = servicer.Update(proto.UpdateRequest(id=created.id, urn=urn(), olds=created.properties,
                                              news=struct(updated_inputs)), ctx)
    upd_outs = unstruct(upd.properties)
    assert upd_outs["access_token"] == outs["access_token"] and upd_outs["revoke_on_delete"] is True

    read = servicer.Read(proto.ReadRequest(id=created.id, urn=urn(), properties=upd.properties), ctx)
    assert read.id == created.id and unstruct(read.properties)["access_token"] == outs["access_token"]

    fake_brms.envs[fake_brms.production]["deletedAt"] = "2025-02-01T00:00:00Z"
    reset_process_state(ProcessState(transport=fake_brms.transport))  # drop the list cache
    gone = servicer.Read(proto.ReadRequest(id=created.id, urn=urn(), properties=upd.properties), ctx)
    assert gone.id == ""  # the engine removes the resource from state

    servicer.Delete(proto.DeleteRequest(id=created.id, urn=urn(), properties=upd.properties), ctx)


def test_preview_unknowns_through_servicer(servicer, fake_brms):
    blob = serialize_provider(EnvironmentTokenProvider())
    news = {"project_id": rpc.UNKNOWN, "environment_id": fake_brms.staging, "__provider": blob}
    checked = servicer.Check(proto.CheckRequest(urn=urn(), olds=struct({}), news=struct(news)), Context())
    assert list(checked.failures) == []
    assert isinstance(unstruct(checked.inputs, keep_unknowns=True)["project_id"], Unknown)


def test_check_failures_name_fields_through_servicer(servicer, fake_brms):
    blob = serialize_provider(EnvironmentTokenProvider())
    news = {"project_id": "nope", "environment_id": fake_brms.staging, "rotate_after": "soon", "__provider": blob}
    checked = servicer.Check(proto.CheckRequest(urn=urn(), olds=struct({}), news=struct(news)), Context())
    assert {f.property for f in checked.failures} == {"project_id", "rotate_after"}


def test_errors_reach_cli_without_secrets(servicer, fake_brms):
    blob = serialize_provider(EnvironmentTokenProvider())
    fake_brms.fault("POST", "regenerate-token", status=401,
                    body={"statusCode": 401, "error": "Unauthorized", "message": f"bad {fake_brms.pat}"})
    props = {"project_id": fake_brms.project_id, "environment_id": fake_brms.staging, "__provider": blob}
    with pytest.raises(Aborted) as info:
        servicer.Create(proto.CreateRequest(urn=urn(), properties=struct(props)), Context())
    details = str(info.value)
    assert "Traceback" in details and "regenerate-token" in details and "HTTP 401" in details
    assert fake_brms.pat not in details


def test_preview_diff_with_unknown_keepers_through_servicer(servicer, fake_brms):
    blob = serialize_provider(EnvironmentTokenProvider())
    props = {"project_id": fake_brms.project_id, "environment_id": fake_brms.staging, "__provider": blob}
    created = servicer.Create(proto.CreateRequest(urn=urn(), properties=struct(props)), Context())
    news = {**props, "keepers": {"epoch": rpc.UNKNOWN}, "redeploy": True, "revoke_on_delete": False,
            "adopt_existing": False}
    diff = servicer.Diff(proto.DiffRequest(id=created.id, urn=urn(), olds=created.properties, news=struct(news)),
                         Context())
    assert diff.changes == proto.DiffResponse.DIFF_SOME and list(diff.replaces) == ["keepers"]

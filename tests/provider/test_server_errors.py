"""In the SDK's dynamic-provider server our errors are reported as their one line; anything
else keeps its traceback; nothing changes outside that server (issue 26, item 2)."""

from __future__ import annotations

import importlib.util
import traceback
import types

import grpc
import pytest

from gorules_tokens import server_errors
from gorules_tokens.errors import BrmsError


def _server_module() -> types.ModuleType:
    """The SDK's own wrapper, taken from the installed pulumi/dynamic/__main__.py, without
    running its main() (which would start a server)."""
    spec = importlib.util.find_spec("pulumi.dynamic.__main__")
    assert spec is not None and spec.origin
    source = open(spec.origin, encoding="utf-8").read()
    assert "context.abort(grpc.StatusCode.UNKNOWN, traceback.format_exc())" in source
    module = types.ModuleType("fake_server")
    exec(compile(source.replace("\nmain()\n", "\n"), spec.origin, "exec"), module.__dict__)
    return module


class _Context:
    def __init__(self) -> None:
        self.details: str | None = None

    def abort(self, code: grpc.StatusCode, details: str) -> None:
        self.details = details
        raise RuntimeError("aborted")


def _report(module: types.ModuleType, error: Exception) -> str:
    def handler(self, request, context):
        raise error

    context = _Context()
    with pytest.raises(RuntimeError):
        module._abort_with_traceback(handler)(None, None, context)
    assert context.details is not None
    return context.details


def test_a_brms_error_is_reported_as_its_one_line() -> None:
    module = _server_module()
    error = BrmsError("regenerate", status=404, message="Project not found", environment_id="e1",
                      hint="check projectId")
    assert "Traceback" in _report(module, error)  # the SDK as it is: a traceback
    assert server_errors.install(module) is True
    assert server_errors.install(module) is True  # idempotent
    assert _report(module, error) == error.message
    assert "\n" not in error.message and "HTTP 404" in error.message and "environment e1" in error.message


def test_other_exceptions_keep_their_traceback() -> None:
    module = _server_module()
    server_errors.install(module)
    details = _report(module, KeyError("bug"))
    assert details.startswith("Traceback (most recent call last)") and "KeyError: 'bug'" in details


def test_nothing_changes_outside_the_server() -> None:
    assert server_errors.install(types.ModuleType("program")) is False
    assert traceback.format_exc is not None

"""Stand-in for `python -m pulumi.dynamic` that records where the provider process spends time.

The benchmark puts a `pulumi-resource-pulumi-python` script first on PATH (with
PULUMI_IGNORE_AMBIENT_PLUGINS unset) that runs this file instead of `-m pulumi.dynamic`.
It writes `provider-<pid>.json` into $BENCH_PROFILE_DIR when the engine stops the plugin
(SIGINT -> KeyboardInterrupt -> normal exit -> atexit):

* `started`: process start (monotonic clock shared with the driver), `imported`: after
  `pulumi.dynamic` and the gRPC server imports, `rpcs`: one span per gRPC call (method,
  start, end, thread), `http`: one span per HTTP request sent by httpx (method, path, status);
* with BENCH_PROFILE_MODE=cprofile also `provider-<pid>.prof`, a cProfile of *every*
  thread (gRPC serves calls on a 4-thread pool; see threadprof.py).
"""

from __future__ import annotations

import atexit
import json
import os
import sys
import threading
import time

STARTED = time.monotonic()
OUT_DIR = os.environ["BENCH_PROFILE_DIR"]
MODE = os.environ.get("BENCH_PROFILE_MODE", "spans")
PID = os.getpid()

# `python -m pulumi.dynamic` puts the working directory (the program dir) first on sys.path,
# so the pickled provider class (`gorules_tokens.provider`) imports; a script gets its own dir.
sys.path[0] = os.getcwd()

_lock = threading.Lock()
_rpcs: list[dict] = []
_http: list[dict] = []
_marks: dict[str, float] = {"started": STARTED}


def _dump() -> None:
    _marks["exited"] = time.monotonic()
    data = {"pid": PID, "mode": MODE, "marks": _marks, "rpcs": _rpcs, "http": _http}
    with open(os.path.join(OUT_DIR, f"provider-{PID}.json"), "w") as fh:
        json.dump(data, fh)


atexit.register(_dump)

if MODE == "cprofile":
    sys.path.append(os.path.dirname(os.path.abspath(__file__)))
    import threadprof

    threadprof.install(os.path.join(OUT_DIR, f"provider-{PID}.prof"))

import httpx  # noqa: E402
from pulumi.runtime.proto import provider_pb2_grpc  # noqa: E402

_original_send = httpx.Client.send


def _timed_send(self: httpx.Client, request: httpx.Request, **kwargs):  # type: ignore[no-untyped-def]
    start = time.monotonic()
    status = 0
    try:
        response = _original_send(self, request, **kwargs)
        status = response.status_code
        return response
    finally:
        with _lock:
            _http.append(
                {"method": request.method, "path": request.url.path, "status": status,
                 "start": start, "end": time.monotonic()}
            )


httpx.Client.send = _timed_send  # type: ignore[method-assign]

_original_add = provider_pb2_grpc.add_ResourceProviderServicer_to_server
_RPC_NAMES = ("Check", "Diff", "Create", "Read", "Update", "Delete", "Configure", "GetPluginInfo",
              "CheckConfig", "DiffConfig")


def _wrap(name: str, fn):  # type: ignore[no-untyped-def]
    def timed(request, context):  # type: ignore[no-untyped-def]
        start = time.monotonic()
        try:
            return fn(request, context)
        finally:
            with _lock:
                _rpcs.append({"method": name, "start": start, "end": time.monotonic(),
                              "thread": threading.get_ident()})

    return timed


def _add(servicer, server):  # type: ignore[no-untyped-def]
    for name in _RPC_NAMES:
        if hasattr(servicer, name):
            setattr(servicer, name, _wrap(name, getattr(servicer, name)))
    _marks["serving"] = time.monotonic()
    return _original_add(servicer, server)


provider_pb2_grpc.add_ResourceProviderServicer_to_server = _add
_marks["imported"] = time.monotonic()

import runpy  # noqa: E402

runpy.run_module("pulumi.dynamic", run_name="__main__", alter_sys=True)

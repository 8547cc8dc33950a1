"""This package's errors as one line, not a traceback, in the SDK's dynamic-provider server.

How the server reports an exception (``pulumi/dynamic/__main__.py``, SDK 3.272): every
``Check``/``Diff``/``Create``/``Read``/``Update``/``Delete`` handler is wrapped by
``_abort_with_traceback``, which catches ``Exception`` and aborts the gRPC call with
``traceback.format_exc()`` as its details; the engine prints those details as the step's
error. So a ``BrmsError`` whose message already says operation, status, environment, URL and
fix reached the user as the last line of a Python traceback of 20-odd lines. Raising
differently does not help: any exception is formatted with its frames, a ``BaseException``
would escape the wrapper and the gRPC worker, and the handlers are bound to the server
before any provider code runs.

What does help: the wrapper looks up the name ``traceback`` in its module's globals at each
failure. :func:`install` (called when ``gorules_tokens.provider`` is imported, which the
server does when it unpickles ``__provider``) replaces that one global, in that module only,
with :class:`OneLineErrors`: the message of a :class:`GoRulesTokensError` (scrubbed when it
was built), and the usual traceback for anything else, so a bug still shows where it is.
Outside that server (a program, the tests, the rollout) it does nothing. If a later SDK
stops looking ``traceback`` up this way, errors are printed with their traceback again, as
before; ``tests/e2e/test_preview_errors.py`` would say so.
"""

from __future__ import annotations

import sys
import traceback
from types import ModuleType
from typing import Any, Optional

from .errors import GoRulesTokensError

_SERVER_NAMES = ("DynamicResourceProviderServicer", "_abort_with_traceback")


class OneLineErrors:
    """Stands in for the ``traceback`` module in the server's globals."""

    def __init__(self, wrapped: ModuleType) -> None:
        self._wrapped = wrapped

    def __getattr__(self, name: str) -> Any:
        return getattr(self._wrapped, name)

    def format_exc(self, limit: Optional[int] = None, chain: bool = True) -> str:
        error = sys.exc_info()[1]
        if isinstance(error, GoRulesTokensError):
            return error.message
        return self._wrapped.format_exc(limit, chain)


def is_dynamic_server(module: Optional[ModuleType]) -> bool:
    """Whether ``module`` is the SDK's dynamic-provider server as 3.272 writes it."""
    return module is not None and all(hasattr(module, name) for name in _SERVER_NAMES)


def install(module: Optional[ModuleType] = None) -> bool:
    """Report this package's errors in one line in the server ``module`` (default: the
    running ``__main__``). True when installed (or already); False when not that server."""
    server = sys.modules.get("__main__") if module is None else module
    if not is_dynamic_server(server):
        return False
    current = getattr(server, "traceback", None)
    if isinstance(current, OneLineErrors):
        return True
    if current is not traceback:
        return False  # not the module we know how to stand in for
    server.traceback = OneLineErrors(traceback)  # type: ignore[union-attr]
    return True

"""The deferred redeploy: the names the provider and the rollout share (standard library only).

Agents of a ``deployment`` environment accept only the tokens of the release they loaded, so
the redeploy that follows a rotation is what switches them. For apps that hold {new, previous}
to see no failed call, the switch must come after the hand-off
(/work/shared/reference/agent-cutover.md). A ``pulumi up`` run with ``DEFER_REDEPLOY_ENV`` set
therefore rotates without deploying and records ``DEFERRED``; the next ``up`` without it deploys
(the diff plans an update, as for a failed redeploy). A module of its own, standard library only,
so that the provider (which reads the variable) and the rollout (which sets it for its first ``up``
and reads ``DEFERRED`` in the second one's events) both import it from below.
"""

from __future__ import annotations

import os
from typing import Mapping, Optional

# `1` (or `true`, `yes`) in the environment of `pulumi up`: this run deploys no release.
DEFER_REDEPLOY_ENV = "GORULES_TOKENS_DEFER_REDEPLOY"
# redeploy_status of a rotated `deployment` environment whose redeploy waits for a plain `up`.
DEFERRED = "deferred"

_YES = ("1", "true", "yes")


def flag_set(name: str, environ: Optional[Mapping[str, str]] = None) -> bool:
    """Whether the environment variable ``name`` says yes (``1``, ``true``, ``yes``)."""
    return (os.environ if environ is None else environ).get(name, "").strip().lower() in _YES


def redeploy_deferred(environ: Optional[Mapping[str, str]] = None) -> bool:
    """Whether this run (the provider process inherits the CLI's environment) defers redeploys."""
    return flag_set(DEFER_REDEPLOY_ENV, environ)

"""One ``EnvironmentToken`` per environment in a program.

An environment has exactly one token, so two resources for it regenerate against each
other and one of them always holds a dead token. The program knows every resource it
declares, so the second declaration fails there, before anything reaches the BRMS; the
provider, which sees one resource per call, could only notice after the damage.
"""

from __future__ import annotations

import threading
from typing import Any, Optional

import pulumi
from pulumi.runtime import settings

from .fields import canon_url, canon_uuid

_lock = threading.Lock()
_run: Any = None  # the resource monitor of the program run the claims belong to
_owners: dict[tuple[Optional[str], str, str], str] = {}


def identity(project_id: Any, environment_id: Any, instance: Any = None, api_url: Any = None) -> tuple[Optional[str], str, str]:
    """What one token belongs to: (BRMS, project, environment). The BRMS is the instance's
    name, else the resource's own URL, else None (the stack's default BRMS). The stack config
    uses the same rule for its entries."""
    brms = instance if instance is not None else canon_url(api_url)
    return brms, canon_uuid(project_id), canon_uuid(environment_id)


def claim(resource_name: str, project_id: Any, environment_id: Any, instance: Any = None, api_url: Any = None) -> None:
    """Record that ``resource_name`` owns the environment; RunError naming both if another does."""
    global _run, _owners
    key = identity(project_id, environment_id, instance, api_url)
    run = settings.SETTINGS.monitor  # one per program run, and one per mocked unit test
    with _lock:
        if run is not _run:
            _run, _owners = run, {}
        owner = _owners.setdefault(key, resource_name)
    if owner != resource_name:
        where = f"the BRMS {key[0]}" if key[0] else "the stack's BRMS"
        raise pulumi.RunError(
            f"EnvironmentToken {resource_name!r}: environment {key[2]} of project {key[1]} on {where} "
            f"already has the EnvironmentToken {owner!r} in this program. An environment has one token, so two "
            "resources would regenerate each other's; declare one (a renamed resource keeps its token with "
            "the `aliases` resource option)"
        )

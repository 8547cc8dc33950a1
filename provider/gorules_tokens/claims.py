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

from .errors import ConfigError, GoRulesTokensError
from .fields import canon_url, canon_uuid
from .instances import Instances, parse_instances

_lock = threading.Lock()
_run: Any = None  # the resource monitor of the program run the claims belong to
_owners: dict[tuple[Optional[str], str, str], str] = {}
_registry: Optional[Instances] = None  # the run's configured instances, read once per run


def identity(
    project_id: Any, environment_id: Any, instance: Any = None, api_url: Any = None,
    registry: Optional[Instances] = None,
) -> tuple[Optional[str], str, str]:
    """What one token belongs to: (BRMS, project, environment).

    The BRMS is the normalised URL the inputs resolve to with ``registry`` (the configured
    instances), so ``instance="eu"`` and ``api_url=<eu's URL>``, or the default and its own
    URL, are one BRMS. Without a registry, or when the inputs name no configured BRMS (the
    provider refuses those at preview), it is the spelling: the instance's name, else the
    resource's own URL, else None (the stack's default BRMS). The stack config uses the same
    rule for its entries.
    """
    brms: Optional[str] = None
    if registry is not None:
        try:
            brms = registry.url_for({"instance": instance, "api_url": api_url})
        except ConfigError:
            brms = None
    if brms is None:
        brms = instance if instance is not None else canon_url(api_url)  # a name never looks like a URL
    return brms, canon_uuid(project_id), canon_uuid(environment_id)


def _program_instances() -> Optional[Instances]:
    """The BRMS instances the program's stack config (or environment) configures; None when
    that config does not parse (the provider refuses it with the key named). PATs unread."""
    gorules = pulumi.Config("gorules")
    try:
        return parse_instances(gorules.get("apiUrl"), None, gorules.get_object("instances"))
    except ConfigError:
        return None


class DuplicateEnvironmentError(GoRulesTokensError, pulumi.RunError):
    """Two resources for one environment in a program; a ``RunError``, so the CLI prints the
    message without a traceback."""


def claim(resource_name: str, project_id: Any, environment_id: Any, instance: Any = None, api_url: Any = None) -> None:
    """Record that ``resource_name`` owns the environment; RunError naming both if another does."""
    global _run, _owners, _registry
    run = settings.SETTINGS.monitor  # one per program run, and one per mocked unit test
    with _lock:
        if run is not _run:
            _run, _owners, _registry = run, {}, _program_instances()
        registry = _registry
    key = identity(project_id, environment_id, instance, api_url, registry)
    with _lock:
        owner = _owners.setdefault(key, resource_name)
    if owner != resource_name:
        where = f"the BRMS {key[0]}" if key[0] else "the stack's BRMS"
        raise DuplicateEnvironmentError(
            f"EnvironmentToken {resource_name!r}: environment {key[2]} of project {key[1]} on {where} "
            f"already has the EnvironmentToken {owner!r} in this program. An environment has one token, so two "
            "resources would regenerate each other's; declare one (a renamed resource keeps its token with "
            "the `aliases` resource option)"
        )

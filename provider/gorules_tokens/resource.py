"""The ``EnvironmentToken`` resource users instantiate in their programs."""

from __future__ import annotations

from typing import Mapping, Optional

import pulumi
from pulumi.dynamic import Resource

from .claims import claim
from .fields import INPUTS, OUTPUTS, SECRET_OUTPUTS
from .provider import EnvironmentTokenProvider
from .schedule import next_rotation_at

# Computed in the program from ``rotated_at`` and ``rotate_after``, by the provider's own rule,
# instead of waited for: in a preview the SDK marks every null output unknown, so without a
# ``rotate_after`` (a stored null) it read ``[unknown]`` in every no-change plan. Computed, it is
# known exactly when ``rotated_at`` is, i.e. unknown only where the token changes.
DERIVED = "next_rotation_at"


def _claimed(resource_name: str, ids: list) -> str:
    """The environment id, once ``resource_name`` holds the claim on it."""
    claim(resource_name, *ids)
    return ids[1]


class EnvironmentToken(Resource, module="gorules", name="EnvironmentToken"):
    """A GoRules BRMS environment access token; creating/replacing it regenerates the token.

    Type token: ``pulumi-python:dynamic/gorules:EnvironmentToken``. Changing
    ``project_id``, ``environment_id``, ``instance`` or ``api_url`` (to another BRMS) or ``keepers``
    replaces the resource (new token), as does ``rotate_after`` elapsing.
    ``access_token`` and ``previous_access_token`` are always secret outputs.

    The keywords are spelled out for users and type checkers; a test proves they are
    exactly the field table's inputs (``fields.INPUTS``).
    """

    # The outputs this class resolves in the program (all of them). The SDK keeps one Output per
    # property until the engine answers, and at the end of the program waits on every pending
    # one after each answer, so a program of N tokens pays about N² × this length (issue 18).
    # A subclass that reads fewer may name fewer; what the state stores does not change.
    resolved_outputs = tuple(f.name for f in OUTPUTS)

    access_token: pulumi.Output[str]
    previous_access_token: pulumi.Output[Optional[str]]
    fingerprint: pulumi.Output[str]
    rotated_at: pulumi.Output[str]
    next_rotation_at: pulumi.Output[Optional[str]]
    environment_name: pulumi.Output[Optional[str]]
    environment_key: pulumi.Output[Optional[str]]
    environment_type: pulumi.Output[Optional[str]]
    release_id: pulumi.Output[Optional[str]]
    redeploy_status: pulumi.Output[str]
    token_source: pulumi.Output[str]
    redeploy_pat_fingerprint: pulumi.Output[Optional[str]]
    brms_url: pulumi.Output[Optional[str]]
    project_id: pulumi.Output[str]
    environment_id: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        *,
        project_id: pulumi.Input[str],
        environment_id: pulumi.Input[str],
        keepers: Optional[pulumi.Input[Mapping[str, pulumi.Input[str]]]] = None,
        rotate_after: Optional[pulumi.Input[str]] = None,
        revoke_on_delete: Optional[pulumi.Input[bool]] = None,
        adopt_existing: Optional[pulumi.Input[bool]] = None,
        redeploy: Optional[pulumi.Input[bool]] = None,
        instance: Optional[pulumi.Input[str]] = None,
        api_url: Optional[pulumi.Input[str]] = None,
        opts: Optional[pulumi.ResourceOptions] = None,
    ) -> None:
        given = locals()
        # Two resources for one environment are refused; unresolved ids are checked once known.
        if all(isinstance(v, (str, type(None))) for v in (project_id, environment_id, instance, api_url)):
            claim(resource_name, project_id, environment_id, instance, api_url)
        else:
            given["environment_id"] = pulumi.Output.all(project_id, environment_id, instance, api_url).apply(
                lambda ids: _claimed(resource_name, ids)
            )
        # Unset inputs are not sent at all: the SDK builds an Output with its own resolver for
        # every property, which a program declaring hundreds of tokens pays per property.
        # An input's echo (``token.keepers``) therefore exists only when the input was given.
        props: dict = {f.name: given[f.name] for f in INPUTS if given[f.name] is not None}
        # Output-only properties must be present (as None) to get resolvers.
        derive = DERIVED in self.resolved_outputs
        props.update({name: None for name in self.resolved_outputs if name != DERIVED})
        if derive:
            props["rotated_at"] = None
        # Merged here so no caller can forget to keep the token secret.
        opts = pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(additional_secret_outputs=list(SECRET_OUTPUTS))
        )
        super().__init__(EnvironmentTokenProvider(), resource_name, props, opts)
        if derive:
            self.next_rotation_at = pulumi.Output.all(self.rotated_at, rotate_after).apply(_next_rotation)


def _next_rotation(values: list) -> Optional[str]:
    """The provider's ``next_rotation_at`` (see ``update``): None without a period or a
    readable ``rotated_at``."""
    rotated_at, rotate_after = values
    if not rotated_at:
        return None
    try:
        return next_rotation_at(rotated_at, rotate_after)
    except ValueError:
        return None

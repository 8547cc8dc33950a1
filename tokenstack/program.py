"""Declares one EnvironmentToken per configured environment and the stack outputs that
downstream stacks read through StackReference."""

from __future__ import annotations

import pulumi

from provider import EnvironmentToken
from tokenstack.config import CONFIG_KEY, EnvironmentEntry, StackConfigError, parse_environments


def declare(entry: EnvironmentEntry) -> EnvironmentToken:
    return EnvironmentToken(
        entry.name,
        project_id=entry.project_id,
        environment_id=entry.environment_id,
        keepers=entry.keepers,
        rotate_after=entry.rotate_after,
        revoke_on_delete=entry.revoke_on_delete,
        adopt_existing=entry.adopt_existing,
        redeploy=entry.redeploy,
    )


def run() -> None:
    config = pulumi.Config()
    try:
        entries = parse_environments(config.get_object(CONFIG_KEY))
    except StackConfigError as exc:
        # RunError prints just the message: the entry and the field, no traceback.
        raise pulumi.RunError(str(exc)) from None
    tokens = {entry.name: declare(entry) for entry in entries}

    pulumi.export("accessTokens", pulumi.Output.secret({name: t.access_token for name, t in tokens.items()}))
    pulumi.export("fingerprints", {name: t.fingerprint for name, t in tokens.items()})
    pulumi.export("rotatedAt", {name: t.rotated_at for name, t in tokens.items()})
    pulumi.export("nextRotationAt", {name: t.next_rotation_at for name, t in tokens.items()})

"""A dynamic provider that does no work but stores what an ``EnvironmentToken`` stores.

The bench's ``same_state`` kind: the engine's floor for *the same state* as the token stack.
Each resource takes the same inputs (``project_id``, ``environment_id``, ``keepers``), has the
same ``{project}/{environment}`` id, and returns outputs with the same names, value sizes and
secrecy as the provider's after a create on localbrms (``access_token`` secret, 43 characters;
``fingerprint`` ``sha256:`` + 16 hex; RFC 3339 ``rotated_at``; the environment's name, key and
type; ``redeploy_status``, ``token_source``, ``brms_url``; the keepers echoed). No HTTP, no
validation, no plan: what is left between ours and this is what our code costs.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timezone
from typing import Any, Optional

import pulumi
from pulumi.dynamic import ConfigureRequest, CreateResult, DiffResult, ReadResult, Resource, ResourceProvider, UpdateResult

# The token stack's outputs (gorules_tokens.stack_outputs.TOKEN_STACK_OUTPUTS), spelled out so
# this program imports none of our package (tests/bench/test_same_state.py keeps them equal).
STACK_OUTPUTS = (
    ("accessTokens", "access_token", True),
    ("previousAccessTokens", "previous_access_token", True),
    ("fingerprints", "fingerprint", False),
    ("rotatedAt", "rotated_at", False),
    ("nextRotationAt", "next_rotation_at", False),
    ("brmsUrls", "brms_url", False),
    ("environmentTypes", "environment_type", False),
)
# Secret outputs, as ours' field table has them (a brms environment stores no previous token).
SECRETS = ("access_token", "previous_access_token")
# What the resource resolves in the program: what the stack exports, as ours' StackToken.
RESOLVED = tuple(attribute for _, attribute, _ in STACK_OUTPUTS)


def _outputs(props: dict[str, Any], brms_url: Optional[str]) -> dict[str, Any]:
    token = secrets.token_urlsafe(32)  # localbrms' token size
    digest = hashlib.sha256(token.encode()).hexdigest()[:16]
    name = f"bench-{int(props['environment_id'][-3:], 16) % 1000:03d}"  # as long as the bench's names
    outs = {
        "access_token": token,
        "fingerprint": f"sha256:{digest}",
        "rotated_at": datetime.now(timezone.utc).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "environment_name": name,
        "environment_key": name,
        "environment_type": "brms",
        "redeploy_status": "not_needed",
        "token_source": "regenerated",
        "brms_url": brms_url,
    }
    if props.get("keepers"):
        outs["keepers"] = props["keepers"]
    return outs


class SameStateTokenProviderNoWork(ResourceProvider):
    """Module and class names as long as ``gorules_tokens.provider.EnvironmentTokenProvider``'s,
    so the by-reference ``__provider`` pickle is as long as ours (twice per resource in state)."""

    serialize_as_secret_always = False  # as ours: a plain by-reference pickle

    def __init__(self) -> None:
        super().__init__()
        self._brms_url: Optional[str] = None

    def __reduce__(self) -> tuple[type, tuple[()]]:
        return (SameStateTokenProviderNoWork, ())

    def configure(self, req: ConfigureRequest) -> None:
        self._brms_url = req.config.get("gorules:apiUrl")

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(f"{props['project_id']}/{props['environment_id']}", _outputs(props, self._brms_url))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = (olds.get("keepers") or {}) != (news.get("keepers") or {})
        return DiffResult(changes=changed, replaces=["keepers"] if changed else [], delete_before_replace=False)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        return ReadResult(id_, props)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(dict(olds))


class SameStateToken(Resource, module="samestt", name="EnvironmentToken"):
    """Same type-token length as ``gorules:EnvironmentToken``, so URNs have the same size."""

    access_token: pulumi.Output[str]

    def __init__(self, name: str, *, project_id: str, environment_id: str, keepers: Optional[dict] = None,
                 opts: Optional[pulumi.ResourceOptions] = None) -> None:
        props: dict[str, Any] = {"project_id": project_id, "environment_id": environment_id}
        if keepers:
            props["keepers"] = keepers
        props.update({key: None for key in RESOLVED})
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=list(SECRETS)))
        super().__init__(SameStateTokenProviderNoWork(), name, props, opts)

"""Token operations against the BRMS: mint, adopt, observe, revoke, redeploy.

Each one is a short sequence of wire calls (``client.py``) with the rule that keeps tokens
safe: nothing is dropped, revoked or regenerated on an answer that is not unmistakably the
BRMS's. They return plain output dicts; translating to and from the engine's types is the
adapter's job (``provider.py``).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any, Optional

from .deploys import (
    CHANGE_REQUEST_PREFIX, FAILED_PREFIX, NOT_NEEDED, SKIPPED, UP_RETRIES, find_environment, redeploy_release,
)
from .deferral import DEFERRED
from .errors import BrmsError, scrub
from .fingerprint import fingerprint
from .inputs import TokenInputs
from .schedule import format_timestamp, next_rotation_at

if TYPE_CHECKING:
    from .client import BrmsClient
    from .models import EnvironmentListItem
    from .process import Session

log = logging.getLogger("gorules_tokens")

REDEPLOY_COMMENT = "Redeploy after environment access token rotation (gorules-tokens)"
# What becomes of a failed redeploy after a revoke (the warning of a token's redeploy says `up` retries).
REVOKE_RETRY = "The delete fails, so the next `pulumi destroy` retries the redeploy."

SOURCE_REGENERATED = "regenerated"
SOURCE_ADOPTED = "adopted"
SOURCE_ADOPTED_ON_REFRESH = "adopted_on_refresh"

# Environment types (``type`` in the BRMS's answers): served by the BRMS, or by Agents.
BRMS_TYPE = "brms"
DEPLOYMENT = "deployment"


def _token_outputs(
    token: str, now: datetime, inputs: TokenInputs, *, name: Optional[str], key: Optional[str],
    env_type: Optional[str], release_id: Optional[str], redeploy_status: str, source: str,
    previous: Optional[str] = None,
) -> dict[str, Any]:
    rotated_at = format_timestamp(now)
    return {
        "access_token": token,
        "previous_access_token": previous,
        "fingerprint": fingerprint(token),
        "rotated_at": rotated_at,
        "next_rotation_at": next_rotation_at(rotated_at, inputs.rotate_after),
        "environment_name": name,
        "environment_key": key,
        "environment_type": env_type,
        "release_id": release_id,
        "redeploy_status": redeploy_status,
        "token_source": source,
    }


def mint(session: Session, inputs: TokenInputs, now: datetime, *, defer_redeploy: bool = False) -> dict[str, Any]:
    """Regenerate the token (the old one dies at once) and redeploy where Agents need it.

    On a ``deployment`` environment the token listed just before is kept as the previous
    one: its Agents accept only that token until their first poll after the redeploy.
    ``defer_redeploy`` (the run's ``deferral.DEFER_REDEPLOY_ENV``): no deploy now, so the
    Agents keep the release that lists only the previous token until a later ``up``
    deploys (``redeploy_status`` ``deferred``); the new token reaches the state either way.
    """
    previous = _token_before_regenerate(session, inputs)
    ambiguous: list[str] = []
    env = session.client.regenerate_token(inputs.project_id, inputs.environment_id, ambiguous=ambiguous)
    token = env.access_token.get_secret_value()
    session.ledger.note_minted(inputs.project_id, inputs.environment_id)
    if ambiguous:
        token = _live_after_lost_answer(session, inputs, token)
    if env.type != DEPLOYMENT or previous == token:
        previous = None
    status = redeploy(
        session.client, project_id=inputs.project_id, environment_id=inputs.environment_id,
        env_type=env.type, release_id=env.release_id, enabled=inputs.redeploy, deferred=defer_redeploy,
    )
    return _token_outputs(
        token, now, inputs, name=env.name, key=env.key, env_type=env.type,
        release_id=env.release_id, redeploy_status=status, source=SOURCE_REGENERATED, previous=previous,
    )


def _token_before_regenerate(session: Session, inputs: TokenInputs) -> Optional[str]:
    """The environment's live token as the BRMS lists it now, if it is a ``deployment`` one.

    Best effort, and never a condition of the regenerate: a failed list (or a list that
    hides the token) only means there is no previous token to hand on. The cached list is
    enough (the one a refresh of this run just read, say), since every regenerate or deploy
    of the project drops it. A resource diffed in this run whose state says ``brms`` costs no
    request at all, so rotating ``brms`` environments lists nothing more than before.
    """
    if session.ledger.environment_type(inputs.project_id, inputs.environment_id) == BRMS_TYPE:
        return None
    try:
        # One attempt, never an outage on record (it must not spend the regenerate's retries),
        # once per project and operation (not once per regenerate, which drops the list cache).
        item = find_environment(session.tokens_before_regenerates(inputs.project_id, inputs.environment_id),
                                inputs.environment_id)
    except BrmsError as exc:
        log.warning("warning: environment %s: could not read its current token before regenerating it (%s); "
                    "previous_access_token stays empty, so the hand-off has no previous token for this rotation",
                    inputs.environment_id, exc)
        return None
    if item is None or item.type != DEPLOYMENT:
        return None
    return item.token


def _live_after_lost_answer(session: Session, inputs: TokenInputs, minted: str) -> str:
    """After a retried regenerate whose earlier attempt may have been applied late, the
    token to keep is the one the BRMS lists now: one fresh list call settles it."""
    try:
        item = observe(session, inputs.project_id, inputs.environment_id, cached=False)
    except BrmsError as exc:
        log.warning("warning: could not confirm the new token of environment %s after a retried "
                    "regenerate (%s); keeping the one the BRMS returned", inputs.environment_id, exc)
        return minted
    live = item.token if item is not None else None
    if live and live != minted:
        log.warning("warning: environment %s lists another token than the retried regenerate returned "
                    "(an earlier attempt was applied late); keeping the live one", inputs.environment_id)
        return live
    return minted


def adopt(session: Session, inputs: TokenInputs, now: datetime) -> dict[str, Any]:
    """Take over the live token from the environment list instead of regenerating it."""
    item = _listed(session, inputs.project_id, inputs.environment_id, operation="adopt-existing")
    token = item.token
    if not token:
        raise BrmsError(
            "adopt-existing",
            message="the environment list returned no access token for this environment, so there is "
            "nothing to adopt (set adopt_existing=False to regenerate instead)",
            project_id=inputs.project_id, environment_id=inputs.environment_id,
        )
    session.ledger.note_adopted(token)
    # The engine gives a `--replace` target no diff and no old inputs, so such a create looks
    # like a first one and adopts again; say so, since the user may have meant to rotate.
    log.warning(
        "warning: adopted the live token of environment %s instead of regenerating it (adopt_existing). "
        "While adopt_existing is on, `pulumi up --replace` of this resource keeps that token; turn "
        "adopt_existing off after the first `pulumi up`", inputs.environment_id,
    )
    return _token_outputs(
        token, now, inputs, name=item.name, key=item.key, env_type=item.type,
        release_id=item.effective_release_id, redeploy_status=NOT_NEEDED, source=SOURCE_ADOPTED,
    )


def observe(
    session: Session, project_id: str, environment_id: str, *, cached: bool, for_delete: bool = False
) -> Optional[EnvironmentListItem]:
    """The environment as the BRMS lists it now; None only when a successful list of the
    project does not hold it.

    Every error propagates, so a refresh or destroy never drops a token from state because
    the BRMS was misreached. A 404 for the project is one of them: a PAT limited to other
    projects may get a 404 for a project it cannot see (GoRules does not say whether 403 or
    404), and another server's 404 for an unknown route may look like the BRMS's. Dropping
    the token then would make the next ``up`` create it, which regenerates it.
    """
    try:
        items = session.environments(project_id, cached=cached)
    except BrmsError as exc:
        if exc.status == 404:
            raise exc.copy(hint=_project_404_hint(session.client.pat_source, for_delete)) from None
        raise
    return find_environment(items, environment_id)


def _project_404_hint(pat_source: str, for_delete: bool) -> str:
    cause = (
        "The BRMS answered 404 for the project's environment list: the project may be deleted, or the "
        f"personal access token ({pat_source}) may not be allowed to see it (a PAT limited to selected "
        "projects), or the BRMS URL may be wrong. Nothing was changed"
    )
    if for_delete:
        return (
            f"{cause}, and the token is not counted as revoked (it may be live and merely invisible to this "
            "PAT). Fix the PAT (then repeat with `--run-program` so the current config is used), or let the "
            "token go without revoking it: set `revokeOnDelete: false` (revoke_on_delete=False) for this "
            "entry and run `pulumi up` before deleting it"
        )
    return (
        f"{cause}, and the token is kept in state. Fix the PAT (refresh uses the PAT saved by the last "
        "`pulumi up`, or repeat with `--run-program`); if the project is really gone, remove the entry from "
        "the program and run `pulumi up`, or `pulumi state delete <urn>`"
    )


def refreshed(outs: dict[str, Any], item: EnvironmentListItem, now: datetime) -> dict[str, Any]:
    """The stored outputs updated from what the BRMS lists.

    An out-of-band token is adopted, and ``rotated_at`` becomes ``now``, when this stack first
    saw it (issue 26): the BRMS does not say when it was regenerated, and keeping the previous
    rotation's time made reports and ``status`` tell a rotation that never happened at that
    time. ``next_rotation_at`` follows from it. A hidden live token never blanks the stored one.
    """
    result = dict(outs)
    live = item.token
    if live and live != result.get("access_token"):
        seen = format_timestamp(now)
        try:
            due = next_rotation_at(seen, result.get("rotate_after"))
        except ValueError:
            due = None  # an unparsable stored period: the next `up` refuses it by name
        result.update(access_token=live, fingerprint=fingerprint(live), token_source=SOURCE_ADOPTED_ON_REFRESH,
                      rotated_at=seen, next_rotation_at=due)
    result.update(
        environment_name=item.name,
        environment_key=item.key,
        environment_type=item.type,
        release_id=item.effective_release_id,
    )
    return result


def retry_redeploy(session: Session, inputs: TokenInputs) -> str:
    """Redeploy again after an earlier redeploy was skipped, failed or deferred."""
    item = _listed(session, inputs.project_id, inputs.environment_id, operation="redeploy", cached=False)
    return redeploy(
        session.client, project_id=inputs.project_id, environment_id=inputs.environment_id,
        env_type=item.type, release_id=item.effective_release_id, enabled=True,
    )


def revoke(session: Session, project_id: str, environment_id: str, outs: dict[str, Any], *, redeploy_enabled: bool) -> None:
    """Kill the stored token, on the BRMS and on the Agents, but only while it is ours.

    With create-before-delete replacement the successor's token already exists when the old
    resource is deleted, so a token that is no longer live is not ours to revoke; its
    successor's create redeployed. When no token was minted for the environment in this run,
    a token that is no longer live may be one this delete revoked before and whose redeploy
    failed: the release is deployed again (never regenerated), so no Agent keeps accepting it.
    A revoke Agents still honour fails the delete (see ``_redeploy_after_revoke``).
    """
    token = outs.get("access_token")
    item = observe(session, project_id, environment_id, cached=False, for_delete=True)
    if item is None:
        return
    if not item.token:
        log.warning(
            "warning: not revoking the token of environment %s: the BRMS list hides the live token, so it "
            "cannot be confirmed that it is still the one this resource owns", environment_id,
        )
        return
    if item.token != token:
        if not session.ledger.minted(project_id, environment_id):
            _redeploy_after_revoke(session, project_id, environment_id, item.type, item.effective_release_id,
                                   redeploy_enabled=redeploy_enabled)
        return
    if session.ledger.adopted(token):
        log.warning("warning: not revoking the token of environment %s: a resource created in this run "
                    "adopted it", environment_id)
        return
    env = session.client.regenerate_token(project_id, environment_id)
    _redeploy_after_revoke(session, project_id, environment_id, env.type, env.release_id,
                           redeploy_enabled=redeploy_enabled)


def _redeploy_after_revoke(
    session: Session, project_id: str, environment_id: str, env_type: Optional[str], release_id: Optional[str],
    *, redeploy_enabled: bool,
) -> None:
    """Agents of ``deployment`` environments accept the tokens of the deployed artifact, so a
    revoke is done only once a release is deployed again. A failed redeploy fails the delete:
    the resource stays in state and the next destroy deploys again (the token stays revoked)."""
    status = redeploy(
        session.client, project_id=project_id, environment_id=environment_id,
        env_type=env_type, release_id=release_id, enabled=redeploy_enabled, retried_by=REVOKE_RETRY,
    )
    if status.startswith(FAILED_PREFIX):
        # No HTTP status of its own (the deploy's is in the message): the refusal hints of
        # refresh/destroy are about the PAT's list and regenerate calls, not this.
        raise BrmsError(
            "revoke-token",
            message=f"the token was revoked on the BRMS, but redeploying release {release_id} failed "
                    f"(redeploy {status}), so Agents still accept the revoked token",
            project_id=project_id, environment_id=environment_id,
            hint="The resource is kept in state and the next `pulumi destroy` (or `pulumi up`) deploys the "
                 "release again; the token stays revoked. Fix the cause above (for HTTP 403: grant the PAT "
                 "`releases:deploy`), or deploy the release in the BRMS yourself and then retry",
        )
    if status.startswith(CHANGE_REQUEST_PREFIX) or status == SKIPPED:
        log.warning(
            "warning: revoked the token of environment %s, but Agents keep accepting it until a release is "
            "deployed (redeploy %s)", environment_id, scrub(status),
        )


def redeploy(
    client: BrmsClient,
    *,
    project_id: str,
    environment_id: str,
    env_type: Optional[str],
    release_id: Optional[str],
    enabled: bool,
    retried_by: str = UP_RETRIES,
    deferred: bool = False,
) -> str:
    """Redeploy the current release so Agents pick up the new token; returns the status.

    Agents of ``deployment`` environments validate tokens against the deployed artifact,
    not against the BRMS. A failed redeploy is recorded (and retried by the next ``up``)
    instead of failing the operation, because the freshly minted token must reach the
    state either way. Every redeploy goes through here; ``deploys.redeploy_release`` reads
    the BRMS's answer (confirming it from the environment list when the answer says too
    little) and says which outcomes a later ``up`` retries. ``deferred``: the run defers its
    redeploys, so nothing is deployed and a later ``up`` without the deferral deploys.
    """
    if env_type != DEPLOYMENT or not release_id:
        return NOT_NEEDED
    if not enabled:
        return SKIPPED
    if deferred:
        return DEFERRED
    return redeploy_release(
        client, project_id=project_id, environment_id=environment_id, release_id=release_id,
        comment=REDEPLOY_COMMENT, retried_by=retried_by,
    )


def _listed(
    session: Session, project_id: str, environment_id: str, *, operation: str, cached: bool = True
) -> EnvironmentListItem:
    item = find_environment(session.environments(project_id, cached=cached), environment_id)
    if item is None:
        raise BrmsError(
            operation, status=404, message="environment not found in the project's environment list",
            project_id=project_id, environment_id=environment_id,
        )
    return item

"""Redeploy a release and say, as a ``redeploy_status`` string, what became of it.

Why a module of its own: GoRules documents no answer body for ``POST /releases/deploy``, so
the answer alone cannot be trusted either way. A 2xx whose body we do not recognise (empty,
plain text, ``{}``, a new shape) is not a failure: it is confirmed from the environment list,
and if the list cannot confirm it either, the status is ``unconfirmed``. The provider never
redeploys an ``unconfirmed`` (or a ``change_request:<id>``) on a later ``up``: each retry could
open another change request, or deploy again and again against a BRMS whose answers we
misread. Only a body that says it failed, or an HTTP error, is ``failed:<status>``, which the
next ``up`` retries; but when the error leaves it open whether the BRMS acted (no answer, 5xx)
and the approval-gated environment now has a pending change request, that request is recorded
instead, so the retry cannot open a second one.

Statuses returned: ``deployed``, ``change_request:<id>``, ``unconfirmed``, ``failed:<status>``
(``<status>`` is the HTTP status, or ``transport`` when no answer came back). Each call logs at
most one warning. A ``failed:<4xx>`` (``refused``) cannot heal by itself: the next ``up`` retries
it only when the PAT changed, the resource's inputs changed, or the user asks.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Optional

from .errors import BrmsError, scrub
from .fields import canon_uuid

if TYPE_CHECKING:
    from .client import BrmsClient
    from .models import DeployOutcome, EnvironmentListItem

log = logging.getLogger("gorules_tokens")

DEPLOYED = "deployed"
UNCONFIRMED = "unconfirmed"
CHANGE_REQUEST_PREFIX = "change_request:"
FAILED_PREFIX = "failed:"
# Set by the token operations, not by a deploy: `redeploy` off, or nothing to redeploy.
SKIPPED = "skipped"
NOT_NEEDED = "not_needed"
_NO_APPROVAL = (None, "", "none")


UP_RETRIES = "The next `pulumi up` retries."


def refused(status: Any) -> bool:
    """A redeploy the BRMS refused with a client error (``failed:403``, say): the same request
    gets the same answer until the PAT or the config changes, so a later ``up`` does not
    retry it by itself (408 and 429 say "try again later" and are retried like a 5xx)."""
    if not isinstance(status, str) or not status.startswith(FAILED_PREFIX):
        return False
    code = status[len(FAILED_PREFIX):]
    return code.isdigit() and 400 <= int(code) < 500 and int(code) not in (408, 429)


def redeploy_release(
    client: BrmsClient, *, project_id: str, environment_id: str, release_id: str, comment: str,
    retried_by: str = UP_RETRIES,
) -> str:
    """Deploy ``release_id`` to the environment and return its ``redeploy_status``.

    Never raises a BRMS failure: the token this follows is already live and must reach the
    state, so failures become a status and one warning (naming the missing permission on 403).
    """
    try:
        outcome = client.deploy_release(project_id, release_id, environment_id, comment)
    except BrmsError as exc:
        pending = _pending_after_lost_answer(client, project_id, environment_id) if _ambiguous(exc) else None
        if pending is not None:
            log.warning(
                "warning: the BRMS answer to the redeploy of release %s to environment %s was lost or an error "
                "(%s), but the environment now has a pending change request; recorded as %s, not retried.",
                release_id, environment_id, exc, pending,
            )
            return pending
        log.warning(
            "warning: environment %s got a new access token but redeploying release %s failed (%s); "
            "Agents keep rejecting the new token until a release is deployed. %s",
            environment_id, release_id, exc, retried_by,
        )
        return f"{FAILED_PREFIX}{exc.status if exc.status is not None else 'transport'}"
    if outcome.kind == "deployed":
        return DEPLOYED
    if outcome.kind == "change_request":
        return f"{CHANGE_REQUEST_PREFIX}{outcome.id}"
    if outcome.kind == "failed":
        log.warning(
            "warning: environment %s got a new access token but the BRMS answered the redeploy of release %s "
            "with HTTP %s and a body reporting failure (%s); Agents keep rejecting the new token until a "
            "release is deployed. %s",
            environment_id, release_id, outcome.http_status, scrub(outcome.detail), retried_by,
        )
        return f"{FAILED_PREFIX}{outcome.http_status}"
    return _confirm(client, project_id, environment_id, release_id, outcome)


def _confirm(
    client: BrmsClient, project_id: str, environment_id: str, release_id: str, outcome: DeployOutcome
) -> str:
    """Read the outcome of an unrecognised 2xx from the environment list."""
    reason = ""
    try:
        item = listed_environment(client, project_id, environment_id)
    except BrmsError as exc:
        item, reason = None, f"the environment list could not be read ({exc})"
    if item is not None:
        status = _status_from_list(item, release_id)
        if status is not None:
            return status
        reason = "the environment list shows neither the release deployed nor a pending change request"
    elif not reason:
        reason = "the environment is not in the project's environment list"
    log.warning(
        "warning: the BRMS accepted the redeploy of release %s to environment %s (HTTP %s, %s), but %s. "
        "redeploy_status is `unconfirmed` and is not retried automatically: check the environment in the BRMS "
        "and, if Agents still reject the new token, deploy the release there (or run `pulumi up --replace`).",
        release_id, environment_id, outcome.http_status, scrub(outcome.detail), reason,
    )
    return UNCONFIRMED


def _ambiguous(exc: BrmsError) -> bool:
    """The BRMS may have processed the deploy, by the client's one rule (a 503 says it did
    not). Loaded here, at the first deploy, so a preview never imports the wire client."""
    from .retry import status_may_have_applied

    return status_may_have_applied(exc.status)


def _pending_after_lost_answer(client: BrmsClient, project_id: str, environment_id: str) -> Optional[str]:
    """``change_request:<id>`` when an approval-gated environment has one pending, so that the
    next ``up`` does not open a second one; None otherwise (and when the list cannot be read)."""
    try:
        item = listed_environment(client, project_id, environment_id)
    except BrmsError:
        return None
    if item is None or item.approval_mode in _NO_APPROVAL:
        return None
    pending = item.open_change_requests()
    return f"{CHANGE_REQUEST_PREFIX}{pending[-1]['id']}" if pending else None


def _status_from_list(item: EnvironmentListItem, release_id: str) -> Optional[str]:
    """``change_request:<id>`` when approvals apply and one is pending, ``deployed`` when the
    environment points at the release and nothing waits for review, else None.

    A redeploy is usually of the release already deployed, which the list cannot tell from no
    deploy at all; with no approval in the way, the 2xx is then taken at its word.
    """
    pending = item.open_change_requests()
    needs_approval = item.approval_mode not in _NO_APPROVAL
    if pending and (needs_approval or item.approval_mode is None):
        return f"{CHANGE_REQUEST_PREFIX}{pending[-1]['id']}"
    if needs_approval:
        return None
    current = item.effective_release_id
    if current is not None and current.lower() == release_id.lower():
        return DEPLOYED
    return None


def listed_environment(client: BrmsClient, project_id: str, environment_id: str) -> Optional[EnvironmentListItem]:
    """The environment as a fresh (uncached) list shows it, None when the list lacks it."""
    return find_environment(client.list_environments(project_id), environment_id)


# A refresh of N tokens in one project looks each of them up in the same list of (at least) N
# items: canonicalising every listed id on every lookup (a regex and a UUID parse) made that
# N² parses, seconds of CPU at N = 1,000 (issue 18). Each id is parsed once per process now.
_canon_listed_id = lru_cache(maxsize=65536)(canon_uuid)


def find_environment(items: list[EnvironmentListItem], environment_id: str) -> Optional[EnvironmentListItem]:
    """The live (not deleted) item for ``environment_id`` in an environment list, ids compared
    canonically; the token operations use it too."""
    wanted = canon_uuid(environment_id)
    return next((i for i in items if _canon_listed_id(i.id) == wanted and not i.deleted_at), None)

"""The diff plan: replace, update or nothing, with a reason per field.

A pure function of (old outputs, new inputs, where the BRMS in effect is, now): no network,
no credentials, no Pulumi types, so every rule is a row in a table test
(``tests/provider/test_plan.py``). The engine hands ``diff`` the OLD OUTPUTS, never the old
inputs, which is why inputs are echoed into the outputs (``fields.echo``) and the ids are
read back from the resource id by the caller.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Mapping, Optional

from .deferral import DEFERRED
from .deploys import FAILED_PREFIX, SKIPPED, refused
from .durations import DurationError
from .fields import BRMS, CREATE_ONLY, IDENTITY, INPUTS, REPLACE, SCHEDULE, Field, canon_url, default_of, is_unknown
from .schedule import rotation_due

# Maps a resource's inputs (or its echoed outputs) to the normalised BRMS URL they resolve to,
# None when that cannot be told (no URL configured). The config layer provides it.
BrmsResolver = Callable[[Mapping[str, Any]], Optional[str]]


@dataclass(frozen=True)
class Plan:
    """Fields that force a replacement and fields that only need an update, each with why."""

    replaces: dict[str, str] = field(default_factory=dict)
    updates: dict[str, str] = field(default_factory=dict)


def redeploy_pending(status: Any) -> bool:
    """A redeploy that was skipped, failed or deferred earlier, which an update retries."""
    return status in (SKIPPED, DEFERRED) or (isinstance(status, str) and status.startswith(FAILED_PREFIX))


def plan(
    olds: Mapping[str, Any],
    news: Mapping[str, Any],
    *,
    brms_url: BrmsResolver,
    now: datetime,
    retry_refused: bool = False,
    defer_redeploy: bool = False,
) -> Plan:
    """Compare the old outputs (with the ids from the resource id) to the new inputs.

    ``retry_refused``: a redeploy the BRMS refused (``deploys.refused``) is retried, because
    the PAT changed since or the user asked; otherwise only a change of inputs retries it.
    ``defer_redeploy``: the run deploys nothing (``deferral``), so no pending redeploy is
    planned; the next run without it plans them all, a ``deferred`` one included.
    """
    result = Plan()
    _brms_rule(result, olds, news, brms_url)
    for f in INPUTS:
        if f.effect == BRMS:
            continue
        if f.effect != CREATE_ONLY:
            _field_rule(result, f, olds, news)
        if f.effect == SCHEDULE:
            _schedule_rule(result, f, olds, news, now)
    if not olds.get("access_token"):
        # A state without a token is useless (e.g. outputs wiped by an old default update).
        result.replaces["access_token"] = "the state holds no token"
    redeploy, status = news.get("redeploy"), olds.get("redeploy_status")
    if not defer_redeploy and not is_unknown(redeploy) and default_of(news, "redeploy") and redeploy_pending(
            status) and (retry_refused or not refused(status)):
        result.updates["redeploy_status"] = (
            "deploy the release the rotation deferred" if status == DEFERRED else f"retry the redeploy that was {status}")
    return result


def _field_rule(result: Plan, f: Field, olds: Mapping[str, Any], news: Mapping[str, Any]) -> None:
    replacing = f.effect in (IDENTITY, REPLACE)
    target = result.replaces if replacing else result.updates
    if is_unknown(news.get(f.name)):
        target[f.name] = "unknown until apply"
    elif f.canon(f.value_in(news)) != f.canon(f.value_in(olds)):
        target[f.name] = "changed"


def _brms_rule(result: Plan, olds: Mapping[str, Any], news: Mapping[str, Any], brms_url: BrmsResolver) -> None:
    """Another BRMS means another token; respelling the BRMS in effect is only recorded.

    The fields that name the BRMS (``instance``, ``api_url``) are judged together, by the URL
    they resolve to. The stored ``brms_url`` is where the token was minted; it is compared
    even when no field changed, since an instance whose URL changed names another BRMS (the
    reason is then ``brms_url``). A state written before it was stored is taken to live where
    its own echoed inputs resolve to now, so upgrading never replaces anything. When the new
    inputs resolve to no URL at all (none configured at preview), nothing can be told and
    nothing is replaced.
    """
    fields = [f for f in INPUTS if f.effect == BRMS]
    unknown = [f.name for f in fields if is_unknown(news.get(f.name))]
    for name in unknown:
        result.replaces[name] = "unknown until apply"
    if unknown:
        return
    respelled = [f.name for f in fields if f.canon(news.get(f.name)) != f.canon(olds.get(f.name))]
    # A stored URL of an earlier release may be spelled as it normalised then (`:443`).
    minted_on, wanted = canon_url(olds.get("brms_url")) or brms_url(olds), brms_url(news)
    if wanted and minted_on != wanted:
        for name in respelled or ["brms_url"]:
            result.replaces[name] = f"token minted on {minted_on}, now {wanted}"
    else:
        for name in respelled:
            result.updates[name] = "same BRMS, spelled differently"


def _schedule_rule(result: Plan, f: Field, olds: Mapping[str, Any], news: Mapping[str, Any], now: datetime) -> None:
    period = news.get(f.name)
    if not period or is_unknown(period):
        return
    try:
        due = rotation_due(olds.get("rotated_at"), period, now)
    except DurationError:
        return  # check() reports the bad value
    if due:
        result.replaces[f.name] = "rotation due"

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

from .durations import DurationError
from .fields import BRMS, CREATE_ONLY, IDENTITY, INPUTS, REPLACE, SCHEDULE, Field, default_of, is_unknown
from .schedule import rotation_due

REPLACE_ACTION = "replace"
UPDATE_ACTION = "update"
NO_OP = "none"

STATUS_SKIPPED = "skipped"
STATUS_FAILED_PREFIX = "failed:"

# Maps a resource's inputs (or its echoed outputs) to the normalised BRMS URL they resolve to,
# None when that cannot be told (no URL configured). The config layer provides it.
BrmsResolver = Callable[[Mapping[str, Any]], Optional[str]]


@dataclass(frozen=True)
class Plan:
    """Fields that force a replacement and fields that only need an update, each with why."""

    replaces: dict[str, str] = field(default_factory=dict)
    updates: dict[str, str] = field(default_factory=dict)

    @property
    def action(self) -> str:
        if self.replaces:
            return REPLACE_ACTION
        return UPDATE_ACTION if self.updates else NO_OP


def redeploy_pending(status: Any) -> bool:
    """A redeploy that was skipped or failed earlier, which an update retries."""
    return status == STATUS_SKIPPED or (isinstance(status, str) and status.startswith(STATUS_FAILED_PREFIX))


def plan(
    olds: Mapping[str, Any],
    news: Mapping[str, Any],
    *,
    brms_url: BrmsResolver,
    now: datetime,
) -> Plan:
    """Compare the old outputs (with the ids from the resource id) to the new inputs."""
    result = Plan()
    for f in INPUTS:
        if f.effect == BRMS:
            _brms_rule(result, f, olds, news, brms_url)
        elif f.effect != CREATE_ONLY:
            _field_rule(result, f, olds, news)
        if f.effect == SCHEDULE:
            _schedule_rule(result, f, olds, news, now)
    _minted_on_rule(result, olds, news, brms_url)
    if not olds.get("access_token"):
        # A state without a token is useless (e.g. outputs wiped by an old default update).
        result.replaces["access_token"] = "the state holds no token"
    redeploy = news.get("redeploy")
    if not is_unknown(redeploy) and default_of(news, "redeploy") and redeploy_pending(olds.get("redeploy_status")):
        result.updates["redeploy_status"] = f"retry the redeploy that was {olds.get('redeploy_status')}"
    return result


def _field_rule(result: Plan, f: Field, olds: Mapping[str, Any], news: Mapping[str, Any]) -> None:
    replacing = f.effect in (IDENTITY, REPLACE)
    target = result.replaces if replacing else result.updates
    if is_unknown(news.get(f.name)):
        target[f.name] = "unknown until apply"
    elif f.canon(f.value_in(news)) != f.canon(f.value_in(olds)):
        target[f.name] = "changed"


def _brms_rule(
    result: Plan, f: Field, olds: Mapping[str, Any], news: Mapping[str, Any], brms_url: BrmsResolver
) -> None:
    """Another BRMS means another token; respelling the URL in effect is only recorded."""
    if is_unknown(news.get(f.name)):
        result.replaces[f.name] = "unknown until apply"
        return
    if f.canon(news.get(f.name)) == f.canon(olds.get(f.name)):
        return
    old_url, new_url = brms_url(olds), brms_url(news)
    if old_url != new_url:
        result.replaces[f.name] = f"BRMS {old_url} -> {new_url}"
    else:
        result.updates[f.name] = "same BRMS, spelled differently"


def _minted_on_rule(result: Plan, olds: Mapping[str, Any], news: Mapping[str, Any], brms_url: BrmsResolver) -> None:
    """The BRMS the token was minted on (the stored ``brms_url``) against the one the new
    inputs resolve to, even when no input changed: an instance whose URL changed now names
    another BRMS, so its tokens are replaced there. Nothing to compare for a state written
    before ``brms_url`` existed (the per-field rule decides), or when the new inputs resolve
    to nothing (no URL configured at all, or an input ``check`` refuses)."""
    minted = olds.get("brms_url")
    if not minted or any(f.name in result.replaces for f in INPUTS if f.effect == BRMS):
        return
    wanted = brms_url(news)
    if wanted is not None and wanted != minted:
        result.replaces["brms_url"] = f"BRMS {minted} -> {wanted}"


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

"""When each configured PAT expires, read once per instance, as plain records with no secret.

A GoRules PAT has an expiry (a week, a month, three months, a year, or none); past it every
call fails with 401 and a scheduled rotation dies. :func:`read_pat_expiries` asks each
configured BRMS (the default instance and every ``gorules:instances`` entry) once:

* with the instance's ``patId`` (``gorules:patId``, ``gorules:instances.<name>.patId``):
  ``GET /api/personal-access-tokens/{patId}``, that PAT's own expiry;
* without one: ``GET /api/personal-access-tokens``, the authenticated user's PATs. The call
  itself proves the PAT is unexpired, so expired entries are someone else's; of the others the
  *earliest* expiry is reported (a warning may come early, never late), and the record says how
  many there were.

GoRules documents ``expiresAt`` (an ISO time, null: never) on a bare array of PAT objects; this
module also takes a ``{results|data|items|tokens: [...]}`` list, ``expires_at`` / ``expires``
keys, epoch seconds or milliseconds and a date without a time (midnight UTC). A failed read is
a record too (``how == UNREAD``, with the status and the scrubbed reason): the expiry is a
warning aid and must not stop what it warns about; a 401 there (``refused``) means the BRMS
refuses the PAT, so every later call with it fails too.

Below the rollout: the caller decides what a warning or an expired PAT does to its run.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Mapping, Optional

from .config import Credentials
from .errors import BrmsError, ConfigError
from .instances import Instance, Instances
from .schedule import format_timestamp

if TYPE_CHECKING:
    from .process import ProcessState

PAT_WARN_DAYS_KEY = "gorules-tokens:patWarnDays"
DEFAULT_PAT_WARN_DAYS = 14

# How a record's expiry was found.
BY_PAT_ID = "pat_id"
ONLY_IN_LIST = "only_in_list"
EARLIEST_IN_LIST = "earliest_in_list"
UNREAD = "unread"

_LIST_KEYS = ("results", "data", "items", "tokens")
_EXPIRY_KEYS = ("expiresAt", "expires_at", "expires")
_MS_THRESHOLD = 100_000_000_000  # an epoch number above this is milliseconds (year 5138 in seconds)


class ExpiryUnreadable(ValueError):
    """The answer names no expiry this module can read; the message says what it saw."""


@dataclass(frozen=True)
class PatExpiry:
    """One instance's PAT expiry. Plain data: URLs, ids and times only, never a PAT."""

    instance: Optional[str]  # None: the default instance (gorules:apiUrl)
    url: str
    how: str  # BY_PAT_ID, ONLY_IN_LIST, EARLIEST_IN_LIST or UNREAD
    detail: str  # one sentence: how it was chosen, or why it could not be read
    expires_at: Optional[str] = None  # RFC 3339 UTC; None: never expires (or, when UNREAD, unknown)
    days_left: Optional[float] = None  # from the read's time; negative once expired; None: never/unknown
    pat_id: Optional[str] = None  # the PAT whose expiry this is (configured, or found in the list)
    status: Optional[int] = None  # HTTP status of a failed read

    @property
    def label(self) -> str:
        return "the default instance" if self.instance is None else f"instance {self.instance!r}"

    @property
    def read(self) -> bool:
        return self.how != UNREAD

    @property
    def never_expires(self) -> bool:
        return self.read and self.expires_at is None

    @property
    def expired(self) -> bool:
        return self.days_left is not None and self.days_left <= 0

    @property
    def refused(self) -> bool:
        """The BRMS answered 401: the PAT is expired or revoked, so every call with it fails."""
        return self.status == 401

    def warns(self, warn_days: int) -> bool:
        """Fewer than ``warn_days`` days left (an expired PAT included)."""
        return self.days_left is not None and self.days_left < warn_days

    def as_dict(self) -> dict[str, Any]:
        """For a ``--json`` report: the fields plus ``label``."""
        return {**asdict(self), "label": self.label}


def pat_warn_days(raw: Any) -> int:
    """``gorules-tokens:patWarnDays`` (None: 14): a whole number of days, 0 turning the warning
    off; ConfigError naming the key otherwise. Config reads give text, so digits are accepted."""
    if raw is None or raw == "":
        return DEFAULT_PAT_WARN_DAYS
    value: Any = raw
    if isinstance(raw, str) and raw.strip().isdigit():
        value = int(raw.strip())
    if isinstance(value, bool) or not isinstance(value, int) or value < 0 or value > 3650:
        raise ConfigError(f"{PAT_WARN_DAYS_KEY}: must be a whole number of days from 0 to 3650 "
                          f"(default {DEFAULT_PAT_WARN_DAYS})")
    return value


def pat_warnings(records: list[PatExpiry], warn_days: int) -> list[PatExpiry]:
    """The records a report warns about: fewer than ``warn_days`` days left, expired included."""
    return [r for r in records if r.warns(warn_days)]


def read_pat_expiries(
    instances: Instances,
    *,
    now: Optional[datetime] = None,
    environ: Optional[Mapping[str, str]] = None,
    state: Optional[ProcessState] = None,
) -> list[PatExpiry]:
    """One record per configured instance (the default first, when it has a URL; then the named
    ones in config order), each from one request (plus bounded retries of transient failures).

    Raises ConfigError, before any request, when an instance with a URL has no PAT (naming the
    setting, as the provider would at its first call). HTTP and shape failures never raise:
    they are UNREAD records. ``state`` gives the HTTP pool and retry policy (default: a fresh
    one, closed on return)."""
    moment = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    targets = [i for i in (instances.default, *instances.named.values()) if i.url is not None]
    env = os.environ if environ is None else environ
    credentials = [(i, i.credentials(env)) for i in targets]
    own = state is None
    if state is None:
        from .process import ProcessState

        state = ProcessState()
    try:
        return [_read_one(state, instance, creds, moment) for instance, creds in credentials]
    finally:
        if own:
            state.close()


def _read_one(state: ProcessState, instance: Instance, credentials: Credentials, now: datetime) -> PatExpiry:
    url = str(instance.url)
    client = state.session(credentials).client
    base = {"instance": instance.name, "url": url}
    try:
        if instance.pat_id:
            body = client.get_personal_access_token(instance.pat_id)
            return _from_item(base, body, now, BY_PAT_ID, instance.pat_id,
                              f"read by patId ({instance.pat_id_key})")
        body = client.list_personal_access_tokens()
    except BrmsError as exc:
        return PatExpiry(**base, how=UNREAD, status=exc.status, pat_id=instance.pat_id,
                         detail=f"could not read the PAT's expiry: {exc}")
    return _from_list(base, body, now, instance.pat_id_key)


def _from_item(base: dict[str, Any], item: Any, now: datetime, how: str, pat_id: Optional[str],
               detail: str) -> PatExpiry:
    try:
        expires = parse_expiry(item)
    except ExpiryUnreadable as exc:
        return PatExpiry(**base, how=UNREAD, pat_id=pat_id, detail=f"the answer names no readable expiry: {exc}")
    return _record(base, how, detail, expires, now, pat_id)


def _from_list(base: dict[str, Any], body: Any, now: datetime, pat_id_key: str) -> PatExpiry:
    items = pat_list_items(body)
    if items is None:
        return PatExpiry(**base, how=UNREAD, detail="the PAT list is not a list of PATs (a JSON array or "
                                                     f"{{{'|'.join(_LIST_KEYS)}: [...]}}); set {pat_id_key}")
    candidates: list[tuple[Optional[datetime], Optional[str]]] = []
    for index, item in enumerate(items):
        try:
            expires = parse_expiry(item)
        except ExpiryUnreadable as exc:
            return PatExpiry(**base, how=UNREAD, detail=f"item {index} of the user's PAT list names no readable "
                                                        f"expiry ({exc}); set {pat_id_key}")
        if expires is None or expires > now:  # an expired one cannot be the PAT that just listed
            candidates.append((expires, _item_id(item)))
    if not candidates:
        return PatExpiry(**base, how=UNREAD, detail=f"the user's PAT list holds no unexpired PAT; set {pat_id_key}")
    far = datetime.max.replace(tzinfo=timezone.utc)
    expires, pat_id = min(candidates, key=lambda c: c[0] or far)
    if len(candidates) == 1:
        return _record(base, ONLY_IN_LIST, "the only unexpired PAT in the authenticated user's list",
                       expires, now, pat_id)
    detail = (f"the earliest expiry of the {len(candidates)} unexpired PATs in the authenticated user's list "
              f"(this PAT's own may be later; set {pat_id_key} to read it)")
    return _record(base, EARLIEST_IN_LIST, detail, expires, now, pat_id)


def _record(base: dict[str, Any], how: str, detail: str, expires: Optional[datetime], now: datetime,
            pat_id: Optional[str]) -> PatExpiry:
    if expires is None:
        return PatExpiry(**base, how=how, detail=detail + "; it never expires", pat_id=pat_id)
    days = (expires - now).total_seconds() / 86400
    return PatExpiry(**base, how=how, detail=detail, expires_at=format_timestamp(expires),
                     days_left=math.floor(days * 100) / 100, pat_id=pat_id)


def pat_list_items(body: Any) -> Optional[list[Any]]:
    if isinstance(body, list):
        return body
    if isinstance(body, dict):
        for key in _LIST_KEYS:
            if isinstance(body.get(key), list):
                return body[key]
    return None


def _item_id(item: Any) -> Optional[str]:
    value = item.get("id") if isinstance(item, dict) else None
    return str(value)[:128] if isinstance(value, (str, int)) and not isinstance(value, bool) else None


def parse_expiry(item: Any) -> Optional[datetime]:
    """The expiry of one PAT object (UTC), None when it never expires; ExpiryUnreadable when the
    object names none this module can read. Values are never quoted back (a variant might
    put something secret-like there); only their kind is named."""
    if not isinstance(item, dict):
        raise ExpiryUnreadable("not an object")
    key = next((k for k in _EXPIRY_KEYS if k in item), None)
    if key is None:
        raise ExpiryUnreadable("no expiresAt")
    value = item[key]
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ExpiryUnreadable(f"{key} is a boolean")
    if isinstance(value, (int, float)):
        seconds = value / 1000 if abs(value) >= _MS_THRESHOLD else value
        try:
            return datetime.fromtimestamp(seconds, tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            raise ExpiryUnreadable(f"{key} is a number out of range") from None
    if isinstance(value, str):
        return _parse_time(value, key)
    raise ExpiryUnreadable(f"{key} is a {type(value).__name__}")


def _parse_time(text: str, key: str) -> datetime:
    raw = text.strip()
    if raw.endswith(("Z", "z")):
        raw = raw[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise ExpiryUnreadable(f"{key} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)  # a BRMS writes UTC; a date alone is its midnight
    return moment.astimezone(timezone.utc)


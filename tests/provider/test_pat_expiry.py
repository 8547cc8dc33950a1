"""read_pat_expiries against localbrms: one request per instance, by patId or from the user's
list (saying how it chose), plain records without any secret, and the patWarnDays threshold."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from gorules_tokens.config import HttpSettings
from gorules_tokens.errors import ConfigError
from gorules_tokens.instances import parse_instances
from gorules_tokens.pat_expiry import (
    BY_PAT_ID,
    DEFAULT_PAT_WARN_DAYS,
    EARLIEST_IN_LIST,
    ONLY_IN_LIST,
    UNREAD,
    parse_expiry,
    pat_warn_days,
    pat_warnings,
    read_pat_expiries,
)
from gorules_tokens.process import ProcessState
from gorules_tokens.retry import RetryPolicy
from gorules_tokens_localbrms.testing import LocalBRMSServer

NOW = datetime.now(timezone.utc).replace(microsecond=0)
PATS_ROUTE = "/api/personal-access-tokens"


def iso(days: float) -> str:
    return (NOW + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def brms(tmp_path: Path) -> Iterator[LocalBRMSServer]:
    with LocalBRMSServer(tmp_path / "brms.db", agent=False) as server:
        yield server


@pytest.fixture
def brms_eu(tmp_path: Path) -> Iterator[LocalBRMSServer]:
    with LocalBRMSServer(tmp_path / "brms-eu.db", agent=False) as server:
        yield server


def pat_requests(brms: LocalBRMSServer) -> int:
    return sum(brms.request_count(method="GET", route=route)
               for route in (PATS_ROUTE, PATS_ROUTE + "/{patId}"))


def assert_no_secret(records, *secrets: str) -> None:
    text = json.dumps([r.as_dict() for r in records]) + repr(records)
    assert not [s[:4] for s in secrets if s in text]


def test_a_configured_pat_id_reads_that_pats_own_expiry(brms: LocalBRMSServer) -> None:
    admin_id = brms.admin_pat_id()
    brms.set_pat_expiry(admin_id, iso(10))
    brms.create_pat(["environments"], expires_at=iso(2))  # another PAT of the user: not read
    brms.reset_metrics()

    [record] = read_pat_expiries(parse_instances(brms.url, brms.pat, None, {}, pat_id=admin_id), now=NOW)

    assert (record.instance, record.url, record.how, record.pat_id) == (None, brms.url, BY_PAT_ID, admin_id)
    assert record.expires_at == iso(10) and record.days_left == 10.0
    assert record.detail == "read by patId (gorules:patId)"
    assert record.warns(DEFAULT_PAT_WARN_DAYS) and not record.warns(7) and not record.expired
    assert brms.request_count(method="GET", route=PATS_ROUTE + "/{patId}") == 1 and pat_requests(brms) == 1
    assert_no_secret([record], brms.pat)


def test_without_a_pat_id_the_only_pat_in_the_users_list_is_read(brms: LocalBRMSServer) -> None:
    brms.reset_metrics()
    [record] = read_pat_expiries(parse_instances(brms.url, brms.pat, None, {}), now=NOW)
    assert (record.how, record.pat_id, record.expires_at) == (ONLY_IN_LIST, brms.admin_pat_id(), None)
    assert record.never_expires and not record.warns(DEFAULT_PAT_WARN_DAYS)
    assert record.detail == "the only unexpired PAT in the authenticated user's list; it never expires"
    assert brms.request_count(method="GET", route=PATS_ROUTE) == 1 and pat_requests(brms) == 1


def test_of_several_pats_in_the_list_the_earliest_unexpired_expiry_is_reported(brms: LocalBRMSServer) -> None:
    brms.set_pat_expiry(brms.admin_pat_id(), iso(40))
    soon = brms.create_pat_record(["environments"], expires_at=iso(5))
    brms.create_pat(["environments"], expires_at=iso(-1))  # expired: cannot be the PAT that listed

    [record] = read_pat_expiries(parse_instances(brms.url, brms.pat, None, {}), now=NOW)

    assert (record.how, record.pat_id, record.days_left) == (EARLIEST_IN_LIST, soon["id"], 5.0)
    assert "earliest expiry of the 2 unexpired PATs" in record.detail and "set gorules:patId" in record.detail
    assert_no_secret([record], brms.pat, soon["token"])


def test_each_instance_is_read_once_with_its_own_pat(brms: LocalBRMSServer, brms_eu: LocalBRMSServer) -> None:
    eu_id = brms_eu.admin_pat_id()
    brms_eu.set_pat_expiry(eu_id, iso(3))
    named = {"eu": {"apiUrl": brms_eu.url, "token": brms_eu.pat, "patId": eu_id}}
    for server in (brms, brms_eu):
        server.reset_metrics()

    records = read_pat_expiries(parse_instances(brms.url, brms.pat, named, {}), now=NOW)

    assert [(r.instance, r.url, r.how) for r in records] == [(None, brms.url, ONLY_IN_LIST), ("eu", brms_eu.url, BY_PAT_ID)]
    assert records[1].detail == "read by patId (gorules:instances.eu.patId)" and records[1].days_left == 3.0
    assert [r.label for r in pat_warnings(records, 14)] == ["instance 'eu'"]
    assert pat_requests(brms) == 1 and pat_requests(brms_eu) == 1
    assert_no_secret(records, brms.pat, brms_eu.pat)


def test_an_expired_pat_is_an_unread_record_the_brms_refused(brms: LocalBRMSServer) -> None:
    brms.set_pat_expiry(brms.admin_pat_id(), iso(-2))
    [record] = read_pat_expiries(parse_instances(brms.url, brms.pat, None, {}), now=NOW)
    assert (record.how, record.status, record.refused, record.expires_at) == (UNREAD, 401, True, None)
    assert "HTTP 401" in record.detail and "may have expired or been revoked" in record.detail
    assert "gorules:token / GORULES_TOKEN" in record.detail
    assert_no_secret([record], brms.pat)


def test_an_unknown_pat_id_is_an_unread_404(brms: LocalBRMSServer) -> None:
    instances = parse_instances(brms.url, brms.pat, None, {}, pat_id="3c90c3cc-0d44-4b50-8888-8dd25736052a")
    [record] = read_pat_expiries(instances, now=NOW)
    assert (record.how, record.status, record.refused) == (UNREAD, 404, False)
    assert "Personal access token not found" in record.detail


def test_an_instance_without_a_pat_fails_before_any_request(brms: LocalBRMSServer) -> None:
    brms.reset_metrics()
    named = {"eu": {"apiUrl": "https://eu.example.com"}}
    with pytest.raises(ConfigError, match=r"instance 'eu'.*gorules:instances.eu.token"):
        read_pat_expiries(parse_instances(brms.url, brms.pat, named, {}), now=NOW)
    assert pat_requests(brms) == 0


def test_a_default_without_a_url_is_not_read() -> None:
    assert read_pat_expiries(parse_instances(None, None, None, {}), now=NOW) == []


@pytest.mark.parametrize("body, how, days", [
    ({"results": [{"id": "a", "expires_at": iso(9)}]}, ONLY_IN_LIST, 9.0),
    ({"data": [{"id": "a", "expiresAt": int((NOW + timedelta(days=4)).timestamp() * 1000)}]}, ONLY_IN_LIST, 4.0),
    ([{"id": "a", "expires": int((NOW + timedelta(days=6)).timestamp())}, {"id": "b", "expiresAt": None}],
     EARLIEST_IN_LIST, 6.0),
    ([{"id": "a", "expiresAt": "soon"}], UNREAD, None),
    ([{"id": "a"}], UNREAD, None),
    ({"message": "ok"}, UNREAD, None),
])
def test_plausible_list_variants(body, how: str, days) -> None:
    state = ProcessState(http_settings=HttpSettings(), policy=RetryPolicy(max_attempts=1, deadline=5.0),
                         transport=httpx.MockTransport(lambda request: httpx.Response(200, json=body)))
    [record] = read_pat_expiries(parse_instances("https://brms.example.com", "pat-0123456789", None, {}),
                                 now=NOW, state=state)
    assert (record.how, record.days_left) == (how, days)
    if how == UNREAD:
        assert "set gorules:patId" in record.detail and "soon" not in record.detail


def test_parse_expiry_reads_a_date_as_midnight_utc_and_null_as_never() -> None:
    assert parse_expiry({"expiresAt": "2027-02-01"}) == datetime(2027, 2, 1, tzinfo=timezone.utc)
    assert parse_expiry({"expiresAt": "2027-02-01T10:00:00+02:00"}) == datetime(2027, 2, 1, 8, tzinfo=timezone.utc)
    assert parse_expiry({"expiresAt": None}) is None


@pytest.mark.parametrize("raw, expected", [(None, 14), ("", 14), ("30", 30), (0, 0), (7, 7)])
def test_pat_warn_days(raw, expected: int) -> None:
    assert pat_warn_days(raw) == expected


@pytest.mark.parametrize("raw", ["-1", -1, "two weeks", 1.5, True, 5000])
def test_pat_warn_days_refuses_what_is_not_a_day_count(raw) -> None:
    with pytest.raises(ConfigError, match="gorules-tokens:patWarnDays: must be a whole number of days"):
        pat_warn_days(raw)


@pytest.mark.parametrize("pat_id", ["has space", "../x", "é", "x" * 129, 5])
def test_a_bad_pat_id_is_refused_naming_the_setting(pat_id) -> None:
    with pytest.raises(ConfigError, match=r"gorules:instances.eu.patId: must be the PAT's id"):
        parse_instances(None, None, {"eu": {"apiUrl": "https://eu.example.com", "patId": pat_id}}, {})
    if isinstance(pat_id, str):
        with pytest.raises(ConfigError, match=r"gorules:patId: must be the PAT's id"):
            parse_instances("https://brms.example.com", None, None, {}, pat_id=pat_id)

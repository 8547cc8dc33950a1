"""Bad input, one test per case, all on one token stack that already holds a live token.

Each case asserts: a clear error naming the field (or the HTTP status), raised at
`pulumi preview` when the input alone shows it (else at `pulumi up`, before or by the
first BRMS call), no regenerate performed, and the state (decrypted, resource by
resource, plus the stack outputs) and every live token unchanged.

Kinds:
- `preview`: the stack config or an input is invalid on its face: `preview` fails, the
  BRMS sees zero requests.
- `brms`: only the BRMS can tell (401/403/404): `up` fails after exactly one
  regenerate request answered with that status (4xx are not retried), and no
  regenerate succeeded.
- `local`: provider configuration refused by the provider before any request
  (missing PAT): `up` fails, zero requests. A missing PAT does not fail `preview` by
  design (provider/README.md: credentials are read at the first BRMS call, so previews
  can run without secrets).
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from typing import Any, Callable

import pytest
from pulumi import automation as auto

from gorules_tokens_localbrms.testing import ENVIRONMENTS_ROUTE, LocalBRMSServer, REGENERATE_ROUTE
from reliability._harness import (
    Driver,
    KnownGap,
    LeakWatch,
    Snapshot,
    admin,
    by_status,
    count,
    entry,
    live_tokens,
    provider_errors,
    request_rows,
    require,
    seed_project,
)
from support.brms import env_by_name

pytestmark = pytest.mark.engine

# A loopback proxy for every non-loopback URL a case uses: if the provider ever sent a
# request to such a URL, it would reach 127.0.0.1:9 (nothing listens), never the
# network. Loopback (the engine's gRPC, localbrms) bypasses it.
_PROXY = "http://127.0.0.1:9"
_LOOPBACK = "127.0.0.1,localhost,::1"
NO_NETWORK_ENV = {"HTTP_PROXY": _PROXY, "HTTPS_PROXY": _PROXY, "ALL_PROXY": _PROXY, "NO_PROXY": _LOOPBACK,
                  "http_proxy": _PROXY, "https_proxy": _PROXY, "all_proxy": _PROXY, "no_proxy": _LOOPBACK}


@dataclass
class World:
    driver: Driver
    brms: LocalBRMSServer
    watch: LeakWatch
    project_id: str
    staging_id: str
    production_id: str
    other: dict[str, Any]  # a second project
    baseline: list[dict[str, Any]]
    snapshot: Snapshot
    deleted_id: str = ""

    def new(self, **fields: Any) -> list[dict[str, Any]]:
        """Baseline plus one new entry `bad` (production of the project, unless given)."""
        item = {"name": "bad", "projectId": self.project_id, "environmentId": self.production_id, **fields}
        return [*self.baseline, item]

    def live(self) -> dict[str, str]:
        return {**live_tokens(self.brms, self.project_id, self.watch),
                **live_tokens(self.brms, self.other["projectId"], self.watch)}


@pytest.fixture(scope="module")
def world(module_token_stack, module_seeded, module_brms, leak_watch) -> World:
    project_id = module_seeded["projectId"]
    staging_id = env_by_name(module_seeded, "staging")["id"]
    baseline = [entry(project_id, staging_id, "staging", keepers={"v": "1"})]
    driver = module_token_stack(baseline)
    driver.env(**NO_NETWORK_ENV)
    driver.up()
    other = seed_project(module_brms, leak_watch)
    with admin(module_brms) as client:
        created = client.post(f"/api/projects/{project_id}/environments", json={"name": "gone", "type": "brms"})
        created.raise_for_status()
        deleted_id = created.json()["id"]
        client.delete(f"/api/projects/{project_id}/environments/{deleted_id}").raise_for_status()
    return World(
        driver=driver, brms=module_brms, watch=leak_watch, project_id=project_id, staging_id=staging_id,
        production_id=env_by_name(module_seeded, "production")["id"], other=other, baseline=baseline,
        snapshot=driver.snapshot(), deleted_id=deleted_id,
    )


@dataclass
class Case:
    id: str
    kind: str  # preview | brms | local
    environments: Callable[[World], Any]
    expect: list[str]  # substrings of the error (field or status)
    status: int | None = None  # brms: the status of the one regenerate request
    # Changes provider config; returns strings the output must not contain.
    setup: Callable[[World], list[str] | None] | None = None
    gap: str | None = None  # a requirement not met yet (see KnownGap)


def _set_pat(value: str) -> Callable[[World], None]:
    def setup(w: World) -> None:
        w.watch.secret(value, "PAT set by a bad-input case")
        w.driver.stack.set_config("gorules:token", auto.ConfigValue(value, secret=True))
    return setup


def _wrong_pat(w: World) -> None:
    _set_pat("pat-wrong-" + secrets.token_urlsafe(24))(w)


def _pat_without_manage(w: World) -> None:
    _set_pat(w.brms.create_pat(["environments"]))(w)


def _pat_of_another_project(w: World) -> None:
    _set_pat(w.brms.create_pat(["environments:manage"], projects=[w.other["projectId"]]))(w)


def _no_pat(w: World) -> None:
    w.driver.stack.remove_config("gorules:token")


def _misspelt_url_key(w: World) -> None:
    w.driver.stack.remove_config("gorules:apiUrl")
    w.driver.stack.set_config("gorules:apiurl", auto.ConfigValue(w.brms.url))


def _url(value: str) -> Callable[[World], None]:
    def setup(w: World) -> None:
        w.driver.stack.set_config("gorules:apiUrl", auto.ConfigValue(value, secret=True))
    return setup


def _url_with_user_info(w: World) -> list[str]:
    password = "pw-" + secrets.token_urlsafe(12)
    w.watch.secret(password, "password in a URL")
    _url(f"http://gorules:{password}@127.0.0.1:{w.brms.port}")(w)
    return [password]


HUGE = "x" * 64 * 1024  # one 64 KiB keeper value (larger ones cannot even reach the program)

CASES = [
    # -- visible in the input: preview fails, nothing reaches the BRMS -----------------
    Case("project-id-not-a-uuid", "preview", lambda w: w.new(projectId="project-1"),
         ["environments[1] ('bad'): field 'projectId': must be a UUID"]),
    Case("environment-id-empty", "preview", lambda w: w.new(environmentId=""),
         ["environments[1] ('bad'): field 'environmentId': must be a UUID"]),
    Case("environment-id-in-braces", "preview", lambda w: w.new(environmentId="{" + w.production_id + "}"),
         ["field 'environmentId': must be a UUID"]),
    Case("environment-id-leading-space", "preview", lambda w: w.new(environmentId=" " + w.production_id),
         ["field 'environmentId': must be a UUID"]),
    Case("environment-id-trailing-newline", "preview", lambda w: w.new(environmentId=w.production_id + "\n"),
         ["field 'environmentId': must be a UUID"]),
    Case("name-with-whitespace", "preview", lambda w: w.new(name="bad token"),
         ["field 'name'"]),
    Case("name-with-trailing-newline", "preview", lambda w: w.new(name="bad\n"),
         ["field 'name'"]),
    Case("project-id-is-a-number", "preview", lambda w: w.new(projectId=12345),
         ["field 'projectId': must be a string (a UUID)"]),
    Case("keeper-value-is-a-number", "preview", lambda w: w.new(keepers={"v": 2}),
         ["field 'keepers.v': must be a string"]),
    Case("keepers-is-a-list", "preview", lambda w: w.new(keepers=["v"]),
         ["field 'keepers': must be a map of strings"]),
    Case("revoke-on-delete-is-a-string", "preview", lambda w: w.new(revokeOnDelete="yes"),
         ["field 'revokeOnDelete': must be true or false"]),
    Case("rotate-after-negative", "preview", lambda w: w.new(rotateAfter="-5d"),
         ["field 'rotateAfter': invalid duration"]),
    Case("rotate-after-unparsable", "preview", lambda w: w.new(rotateAfter="1.5h"),
         ["field 'rotateAfter': invalid duration"]),
    Case("rotate-after-zero", "preview", lambda w: w.new(rotateAfter="0s"),
         ["field 'rotateAfter'", "must be greater than zero"]),
    Case("rotate-after-is-a-number", "preview", lambda w: w.new(rotateAfter=30),
         ["field 'rotateAfter': must be a string such as '30d'"]),
    Case("unknown-field", "preview", lambda w: w.new(rotateEvery="30d"),
         ["field 'rotateEvery': not a known setting"]),
    Case("environments-not-a-list", "preview", lambda w: {"name": "staging"},
         ["environments: must be a list"]),
    Case("duplicate-name", "preview", lambda w: w.new(name="staging"),
         ["field 'name': duplicate"]),
    Case("existing-token-gets-bad-rotate-after", "preview",
         lambda w: [{**w.baseline[0], "rotateAfter": "30 d"}],
         ["environments[0] ('staging'): field 'rotateAfter': invalid duration"]),
    Case("huge-keepers", "preview", lambda w: w.new(keepers={"blob": HUGE}), ["keepers", "at most 1024 characters"]),
    Case("api-url-http-non-loopback", "preview", lambda w: w.new(),
         ["gorules:apiUrl", "https://"], setup=_url("http://brms.invalid")),
    Case("api-url-with-user-info", "preview", lambda w: w.new(),
         ["gorules:apiUrl", "user info"], setup=_url_with_user_info),
    # A missing PAT and a misspelt key fail the preview too (issue 26), not the up.
    Case("pat-missing", "preview", lambda w: w.new(), ["no GoRules personal access token configured"],
         setup=_no_pat),
    Case("api-url-key-misspelt", "preview", lambda w: w.new(),
         ["unknown config key 'gorules:apiurl': did you mean 'gorules:apiUrl'?"], setup=_misspelt_url_key),
    # -- only the BRMS can tell: up fails on the first regenerate, which is refused ------
    Case("pat-wrong-401", "brms", lambda w: w.new(), ["HTTP 401", "gorules:token"], status=401,
         setup=_wrong_pat),
    Case("pat-without-permission-403", "brms", lambda w: w.new(), ["HTTP 403", "environments permissions"],
         status=403, setup=_pat_without_manage),
    Case("pat-of-another-project-403", "brms", lambda w: w.new(), ["HTTP 403"], status=403,
         setup=_pat_of_another_project),
    Case("environment-unknown-404", "brms", lambda w: w.new(environmentId=str(uuid.uuid4())), ["HTTP 404"],
         status=404),
    Case("environment-deleted-404", "brms", lambda w: w.new(environmentId=w.deleted_id), ["HTTP 404"],
         status=404),
    Case("environment-of-another-project-404", "brms",
         lambda w: w.new(environmentId=env_by_name(w.other, "staging")["id"]), ["HTTP 404"], status=404),
    Case("project-unknown-404", "brms", lambda w: w.new(projectId=str(uuid.uuid4())), ["HTTP 404"], status=404),
]


def _restore(w: World, config: bool) -> None:
    w.driver.configure(w.baseline)
    if config:
        w.driver.stack.set_all_config({
            "gorules:apiUrl": auto.ConfigValue(w.brms.url),
            "gorules:token": auto.ConfigValue(w.brms.pat, secret=True),
        })
        if "gorules:apiurl" in w.driver.stack.get_all_config():
            w.driver.stack.remove_config("gorules:apiurl")


def _marks(case: Case) -> list[Any]:
    if case.gap:
        return [pytest.mark.xfail(strict=True, raises=KnownGap, reason=case.gap)]
    return []


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=_marks(c)) for c in CASES])
def test_bad_input_fails_clearly_without_touching_any_token(world: World, case: Case, figures) -> None:
    w = world
    live_before = w.live()
    try:
        forbidden = (case.setup(w) if case.setup is not None else None) or []
        w.driver.configure(case.environments(w))
        w.brms.reset_metrics()
        if case.kind == "preview":
            _preview_case(w, case, forbidden)
        else:
            _up_case(w, case, forbidden, figures)
    finally:
        _restore(w, config=case.setup is not None)
    assert w.live() == live_before, "a live token changed"


def _assert_names(out: str, case: Case, forbidden: list[str]) -> None:
    for text in case.expect:
        assert text in out, f"{case.id}: {text!r} not in the error output:\n{out[-3000:]}"
    for text in forbidden:
        assert text not in out, f"{case.id}: the output repeats a credential"


def _preview_case(w: World, case: Case, forbidden: list[str]) -> None:
    try:
        w.driver.preview()
    except auto.errors.CommandError:
        out = w.driver.last_output
    else:
        # The input went through preview. Check that up at least fails cleanly before
        # touching anything, then report the gap.
        out = ""
        if case.id.startswith("api-url"):
            out = w.driver.fails("up")
            _assert_names(out, case, forbidden)
            assert request_rows(w.brms) == [], "a request reached the BRMS"
            assert w.driver.snapshot().comparable() == w.snapshot.comparable()
        require(False, f"{case.id}: pulumi preview succeeded; {case.gap or 'expected a failure'}")
    _assert_names(out, case, forbidden)
    # A clear error: the message, not a Python traceback.
    assert "Traceback" not in out, f"{case.id}: traceback in the output:\n{out[-3000:]}"
    assert request_rows(w.brms) == [], "preview made a BRMS request"
    assert w.driver.snapshot().comparable() == w.snapshot.comparable()


def _up_case(w: World, case: Case, forbidden: list[str], figures) -> None:
    out = w.driver.fails("up")
    _assert_names(out, case, forbidden)
    errors = provider_errors(out)
    assert len(errors) == 1, errors
    rows = request_rows(w.brms)
    if case.kind == "local":
        assert rows == [], "a request reached the BRMS"
    else:
        # Exactly one regenerate, refused; never retried; no other request than, before it, the
        # one best-effort list that reads the token an Agent would still accept (issue 24).
        assert by_status(rows, REGENERATE_ROUTE) == {case.status: 1}
        assert count(rows) - count(rows, ENVIRONMENTS_ROUTE, method="GET") == 1, rows
        assert count(rows, ENVIRONMENTS_ROUTE, method="GET") <= 1, rows
        (message,) = errors.values()
        assert f"HTTP {case.status}" in message
    assert w.driver.snapshot().comparable() == w.snapshot.comparable(), "state changed"
    figures.record("bad_input", f"{case.id}_requests", count(rows))


def test_after_a_wrong_pat_refresh_needs_a_successful_up_or_run_program(world: World) -> None:
    """A failed `up` still stores the stack config it ran with (wrong PAT, encrypted) as the
    dynamic provider's config in state, and `refresh`/`destroy` without the program use
    that stored config. So after fixing `gorules:token`, a plain refresh still answers
    401; `--run-program` (or any successful `up`) picks up the fixed PAT. Nothing is lost
    on the way: the stored tokens and the live ones never change."""
    w = world
    live_before = w.live()
    try:
        _wrong_pat(w)
        w.driver.configure(w.new())
        w.brms.reset_metrics()
        w.driver.fails("up")
        _restore(w, config=True)
        out = w.driver.fails("refresh")
        assert "gorules list-environments failed: HTTP 401" in out
        w.driver.refresh(run_program=True)
        assert w.driver.snapshot().comparable() == w.snapshot.comparable()
        rows = request_rows(w.brms)
        assert count(rows, REGENERATE_ROUTE, status=200) == 0
    finally:
        _restore(w, config=True)
    assert w.live() == live_before

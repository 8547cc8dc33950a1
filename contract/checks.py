"""Read-only checks: what the provider assumes about listing, auth errors and unknown routes.

Each check is a function of the shared :class:`Context` returning one :class:`Result`; the
table :data:`READ_ONLY` fixes their order. No check writes anything to the BRMS.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from pydantic import ValidationError

from contract.probe import Answer, Probe
from contract.report import Result
from gorules_tokens.instances import ENV_PAT_ID
from gorules_tokens.models import EnvironmentListItem
from gorules_tokens.pat_expiry import ExpiryUnreadable, parse_expiry, pat_list_items

HIDDEN_PROJECT_VARIABLE = "GORULES_CONTRACT_HIDDEN_PROJECT_ID"
PATS_PATH = "/api/personal-access-tokens"


@dataclass
class Context:
    probe: Probe
    project_id: str
    environment_id: str
    hidden_project_id: Optional[str] = None  # a project the PAT may not see (optional)
    pat_id: Optional[str] = None  # the PAT's own id (GORULES_PAT_ID, optional)
    listed: Optional[Answer] = None
    cache: dict[str, Any] = field(default_factory=dict)

    def envs_path(self, project_id: Optional[str] = None) -> str:
        return f"/api/projects/{project_id or self.project_id}/environments"

    def list_answer(self) -> Answer:
        if self.listed is None:
            self.listed = self.probe.ask("GET", self.envs_path())
        return self.listed

    def target(self) -> Optional[dict[str, Any]]:
        """The throw-away environment's raw list item, if the list could be read."""
        body = self.list_answer().body
        if self.list_answer().status != 200 or not isinstance(body, list):
            return None
        wanted = self.environment_id.lower()
        return next((i for i in body if isinstance(i, dict) and str(i.get("id", "")).lower() == wanted), None)


def list_environments(ctx: Context) -> Result:
    name = "list-environments"
    answer = ctx.list_answer()
    if answer.status != 200:
        meaning = "every refresh, adopt and revoke fails"
        if answer.status in (401, 403):
            meaning += "; check GORULES_TOKEN and that it grants `environments` on this project"
        return Result(name, "breaks", answer.describe(), meaning)
    if not isinstance(answer.body, list):
        return Result(name, "breaks", answer.describe(), "the provider expects a bare JSON array: refresh fails")
    for index, item in enumerate(answer.body):
        try:
            EnvironmentListItem.model_validate(item)
        except ValidationError as exc:
            where = ", ".join(".".join(map(str, e["loc"])) for e in exc.errors(include_input=False)[:3])
            return Result(name, "breaks", f"item {index} does not parse ({where})",
                          "the provider's list model rejects it: refresh fails")
    return Result(name, "match", f"{answer.describe()}; every item parses with the provider's model")


def target_environment(ctx: Context) -> Result:
    name = "target-environment"
    if ctx.list_answer().status != 200:
        return Result(name, "skipped", "the list could not be read")
    item = ctx.target()
    if item is None:
        return Result(name, "breaks", f"environment {ctx.environment_id} is not in the list",
                      "a token of this environment would be dropped from state at the next refresh; "
                      "check GORULES_CONTRACT_ENVIRONMENT_ID")
    kind = item.get("type")
    if kind not in ("brms", "deployment"):
        return Result(name, "differs", f"type {kind!r}",
                      "only `deployment` environments get a redeploy; any other type is treated like `brms`")
    return Result(name, "match", f"type {kind!r}, key {item.get('key')!r}")


def access_token_in_list(ctx: Context) -> Result:
    name = "access-token-in-list"
    item = ctx.target()
    if item is None:
        return Result(name, "skipped", "no target environment")
    token = item.get("accessToken")
    if isinstance(token, str) and token:
        return Result(name, "match", "the list shows the environment's token (not printed)")
    return Result(name, "differs", f"accessToken is {'absent' if 'accessToken' not in item else 'empty or hidden'}",
                  "adopt_existing fails, refresh cannot see tokens rotated outside Pulumi, and "
                  "revoke_on_delete never revokes (it warns)")


def release_in_list(ctx: Context) -> Result:
    name = "release-in-list"
    item = ctx.target()
    if item is None:
        return Result(name, "skipped", "no target environment")
    release = item.get("releaseId") or (item.get("release") or {}).get("id")
    if release:
        return Result(name, "match", "releaseId present")
    if item.get("type") == "deployment":
        return Result(name, "differs", "no releaseId and no release.id",
                      "no redeploy after a rotation: Agents keep accepting the old token (deploy a release first)")
    return Result(name, "match", "no release, none needed for a `brms` environment")


def approval_fields(ctx: Context) -> Result:
    name = "approval-fields"
    item = ctx.target()
    if item is None:
        return Result(name, "skipped", "no target environment")
    missing = [k for k in ("approvalMode", "changeRequests") if k not in item]
    if not missing and isinstance(item["changeRequests"], list):
        return Result(name, "match", f"approvalMode {item['approvalMode']!r}, changeRequests is a list")
    return Result(name, "differs", f"missing or malformed: {', '.join(missing) or 'changeRequests'}",
                  "a deploy answer the provider does not recognise cannot be confirmed: redeploy_status "
                  "becomes `unconfirmed` more often")


def _auth_result(name: str, answer: Answer, *, wrong_token: bool) -> Result:
    if answer.status in (401, 403):
        return Result(name, "match", answer.describe())
    if answer.status is not None and 200 <= answer.status < 300:
        return Result(name, "breaks", answer.describe(), "the BRMS answered without valid credentials")
    if answer.status == 404 and wrong_token:
        return Result(name, "differs", answer.describe(),
                      "a revoked or mistyped PAT looks like a missing project: refresh and destroy fail naming "
                      "the project (never dropping a token), without the auth hint")
    return Result(name, "differs", answer.describe(), "the provider reports it as an error, without the auth hint")


def auth_missing(ctx: Context) -> Result:
    return _auth_result("auth-missing-pat", ctx.probe.ask("GET", ctx.envs_path(), pat=None), wrong_token=False)


def auth_wrong(ctx: Context) -> Result:
    answer = ctx.probe.ask("GET", ctx.envs_path(), pat=f"contract-invalid-{secrets.token_hex(12)}")
    ctx.cache["wrong-pat"] = answer
    return _auth_result("auth-wrong-pat", answer, wrong_token=True)


def error_body_shape(ctx: Context) -> Result:
    name = "error-body-shape"
    answer: Optional[Answer] = ctx.cache.get("wrong-pat")
    if answer is None:
        return Result(name, "skipped", "runs on the answer of auth-wrong-pat")
    body = answer.body
    if isinstance(body, dict) and isinstance(body.get("message"), (str, list)):
        shape = "{" + ", ".join(k for k in ("statusCode", "error", "message") if k in body) + "}"
        return Result(name, "match", f"{shape} as GoRules' BRMS answers")
    return Result(name, "differs", answer.describe(),
                  "error messages show the HTTP status without the BRMS's own message")


def unknown_project(ctx: Context) -> Result:
    """The provider never drops a token on a 404 for its project (a deleted project and one
    the PAT may not see can answer alike), so any refusal keeps state; only a list that
    succeeds without the environment drops it."""
    name = "unknown-project"
    answer = ctx.probe.ask("GET", ctx.envs_path(str(uuid.uuid4())))
    if answer.status is not None and 400 <= answer.status < 500:
        return Result(name, "match", answer.describe(),
                      "refresh fails naming the project and the fix (`pulumi state delete` when it is really "
                      "gone); nothing is dropped")
    if answer.status == 200 and answer.body == []:
        return Result(name, "differs", answer.describe(),
                      "an unknown project lists no environments: refresh drops the tokens of a deleted project, "
                      "and would drop those of a project this PAT cannot see if the BRMS answers it the same way")
    return Result(name, "differs", answer.describe(), "the provider reports it as an error; state is kept")


def hidden_project(ctx: Context) -> Result:
    """What the BRMS answers for a project the PAT may not see: GoRules does not document
    whether a PAT limited to selected projects gets 403 or 404."""
    name = "project-outside-pat"
    if not ctx.hidden_project_id:
        return Result(name, "skipped",
                      f"set {HIDDEN_PROJECT_VARIABLE} to a project this PAT may not see to learn the answer")
    answer = ctx.probe.ask("GET", ctx.envs_path(ctx.hidden_project_id))
    if answer.status in (401, 403):
        return Result(name, "match", answer.describe(),
                      "a project outside the PAT is refused as such: refresh and destroy fail with the auth hint")
    if answer.status == 404:
        return Result(name, "differs", answer.describe(),
                      "a project outside the PAT looks like a deleted one; the provider never drops or counts "
                      "as revoked a token on a 404, so refresh and destroy fail naming the PAT as a cause")
    if answer.status == 200 and answer.body == []:
        return Result(name, "breaks", answer.describe(),
                      "a project outside the PAT lists no environments: refresh would drop its tokens and the "
                      "next `pulumi up` would regenerate them")
    if answer.status == 200:
        return Result(name, "differs", answer.describe(),
                      f"this PAT can list the project: {HIDDEN_PROJECT_VARIABLE} is not outside its scope")
    return Result(name, "differs", answer.describe(), "the provider reports it as an error; state is kept")


def unknown_route(ctx: Context) -> Result:
    """A wrong URL path prefix must fail loudly; only an answer that looks like a successful
    environment list could make a refresh drop state."""
    name = "unknown-route"
    answer = ctx.probe.ask("GET", f"/gorules-contract-{secrets.token_hex(4)}{ctx.envs_path()}")
    if answer.status == 404:
        # Any 404 fails the refresh (a 404 never drops a token), whatever its message says.
        return Result(name, "match", answer.describe(), "a wrong gorules:apiUrl fails loudly, state is kept")
    if answer.status is not None and 200 <= answer.status < 300 and isinstance(answer.body, list):
        return Result(name, "breaks", answer.describe(),
                      "an unknown path answers like the environment list: a wrong URL cannot be detected")
    return Result(name, "match", answer.describe(), "not a 404: a wrong gorules:apiUrl fails loudly, state is kept")


def _expiry_of(item: Any) -> str:
    """'never', 'a time', or raises ExpiryUnreadable: what the rollout's expiry reader sees."""
    return "never" if parse_expiry(item) is None else "a time"


def pat_list(ctx: Context) -> Result:
    """The authenticated user's PATs with ``expiresAt``, read as the rollout reads them (a
    warning aid only: nothing here can make the provider lose a token)."""
    name = "pat-list"
    answer = ctx.probe.ask("GET", PATS_PATH)
    if answer.status != 200:
        return Result(name, "differs", answer.describe(),
                      "the rollout cannot read this PAT's expiry from the user's list (it says so; tokens are "
                      f"unaffected); set {ENV_PAT_ID} / gorules:patId to read it by id")
    items = pat_list_items(answer.body)
    if items is None:
        return Result(name, "differs", answer.describe(), "not a list of PATs: the rollout reports the expiry unread")
    try:
        kinds = [_expiry_of(item) for item in items]
    except ExpiryUnreadable as exc:
        return Result(name, "differs", f"{answer.describe()}; an item names no readable expiry ({exc})",
                      "the rollout reports the expiry unread unless gorules:patId names a readable PAT")
    shape = "" if isinstance(answer.body, list) else " (wrapped in an object: tolerated)"
    observed = f"{answer.describe()}{shape}; {kinds.count('a time')} expire, {kinds.count('never')} never"
    return Result(name, "differs" if shape else "match", observed,
                  "" if not shape else "GoRules documents a bare array; the rollout reads this form too")


def pat_by_id(ctx: Context) -> Result:
    name = "pat-by-id"
    if not ctx.pat_id:
        return Result(name, "skipped", f"{ENV_PAT_ID} not set")
    answer = ctx.probe.ask("GET", f"{PATS_PATH}/{ctx.pat_id}")
    if answer.status != 200:
        return Result(name, "differs", answer.describe(),
                      "the rollout reports this PAT's expiry unread; check the PAT's id (gorules:patId)")
    try:
        kind = _expiry_of(answer.body)
    except ExpiryUnreadable as exc:
        return Result(name, "differs", f"{answer.describe()}; {exc}", "the rollout reports this PAT's expiry unread")
    return Result(name, "match", f"{answer.describe()}; expiresAt: {kind}")


READ_ONLY: tuple[Callable[[Context], Result], ...] = (
    list_environments,
    target_environment,
    access_token_in_list,
    release_in_list,
    approval_fields,
    auth_missing,
    auth_wrong,
    error_body_shape,
    unknown_project,
    hidden_project,
    unknown_route,
    pat_list,
    pat_by_id,
)

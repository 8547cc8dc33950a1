"""Checks that change the throw-away environment: regenerate its token, redeploy its release.

Only run with ``--mutating``. The deploy goes through the provider's own code
(``gorules_tokens.deploys.redeploy_release``), so its verdict is what a rotation would record
as ``redeploy_status``; the raw answer is described too, for a bug report.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
from pydantic import ValidationError

from contract.checks import Context
from contract.probe import decode
from contract.report import Result
from gorules_tokens.client import BrmsClient
from gorules_tokens.config import Credentials, HttpSettings
from gorules_tokens.deploys import redeploy_release
from gorules_tokens.models import Environment, parse_deploy_outcome
from gorules_tokens.retry import RetryPolicy

COMMENT = "gorules-tokens contract suite (throw-away environment)"


def regenerate(ctx: Context) -> Result:
    name = "regenerate-token"
    before = (ctx.target() or {}).get("accessToken")
    path = f"{ctx.envs_path()}/{ctx.environment_id}/regenerate-token"
    answer = ctx.probe.ask("POST", path)
    if answer.status != 200:
        meaning = "rotation fails"
        if answer.status == 403:
            meaning += ": the PAT lacks the permission to regenerate (`environments:manage` in our reading)"
        return Result(name, "breaks", answer.describe(), meaning)
    try:
        env = Environment.model_validate(answer.body)
    except ValidationError as exc:
        where = ", ".join(".".join(map(str, e["loc"])) for e in exc.errors(include_input=False)[:3])
        return Result(name, "breaks", f"HTTP 200 but the answer does not parse ({where})", "rotation fails")
    new = env.access_token.get_secret_value()
    if before and new == before:
        return Result(name, "breaks", "HTTP 200 but the token did not change", "a rotation would not rotate")
    ctx.listed = None  # the list must now show the new token
    listed = (ctx.target() or {}).get("accessToken")
    if listed and listed != new:
        return Result(name, "breaks", "the list still shows another token after the regenerate",
                      "refresh would replace the new token in state with the listed one")
    ctx.cache["release"] = env.release_id
    ctx.cache["type"] = env.type
    return Result(name, "match", "HTTP 200, flat environment parses, new token differs and the list shows it")


def redeploy(ctx: Context) -> Result:
    name = "deploy-release"
    item = ctx.target() or {}
    env_type = ctx.cache.get("type") or item.get("type")
    release = ctx.cache.get("release") or item.get("releaseId") or (item.get("release") or {}).get("id")
    if env_type != "deployment" or not release:
        return Result(name, "skipped", f"needs a `deployment` environment with a release (type {env_type!r})")
    seen: list[httpx.Response] = []
    warnings = _Collect()
    logger = logging.getLogger("gorules_tokens")
    logger.addHandler(warnings)
    http = httpx.Client(follow_redirects=False, event_hooks={"response": [lambda r: seen.append(r)]})
    try:
        client = BrmsClient(http, Credentials(ctx.probe.base_url, ctx.probe.pat),
                            RetryPolicy(max_attempts=3, deadline=30.0), HttpSettings())
        status = redeploy_release(client, project_id=ctx.project_id, environment_id=ctx.environment_id,
                                  release_id=str(release), comment=COMMENT)
    finally:
        logger.removeHandler(warnings)
        http.close()
    raw = _describe_deploy_answer(seen)
    observed = f"redeploy_status {status!r}; deploy answer: {raw}"
    if status == "deployed" or status.startswith("change_request:"):
        meaning = "rotations redeploy as the provider expects"
        if status.startswith("change_request:"):
            meaning += "; close or approve that change request in the BRMS"
        return Result(name, "match", observed, meaning)
    if status == "unconfirmed":
        return Result(name, "differs", observed,
                      "each rotation records `unconfirmed` and warns; check in the BRMS that Agents got the release")
    return Result(name, "breaks", observed, warnings.text() or "rotations cannot redeploy: Agents keep the old token")


def _describe_deploy_answer(responses: list[httpx.Response]) -> str:
    deploys = [r for r in responses if r.request.url.path.endswith("/releases/deploy")]
    if not deploys:
        return "none"
    response = deploys[-1]
    response.read()
    outcome = parse_deploy_outcome(decode(response), response.status_code)
    return f"HTTP {response.status_code}, read by the provider as {outcome.kind}" + (
        f" ({outcome.detail})" if outcome.detail else ""
    )


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[Any] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())

    def text(self) -> str:
        return " ".join(self.messages)


MUTATING = (regenerate, redeploy)

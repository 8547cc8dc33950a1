"""Helpers for end-to-end tests against localbrms: the token stack handle, evaluation,
out-of-band changes and request counts."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from pulumi import automation as auto

from gorules_tokens_localbrms.testing import LocalBRMSServer
from support import plans
from support.engine import REPO_ROOT, EngineEnv, create_stack, prepare_workspace
from support.ops import UpRun
from tokenstack.stackfile import set_object_config


def env_by_name(seed: dict[str, Any], name: str) -> dict[str, Any]:
    return next(e for e in seed["environments"] if e["name"] == name or e["key"] == name)


def evaluate(brms: LocalBRMSServer, project_id: str, environment_id: str, token: str, agent: bool = False) -> int:
    """Status of an evaluation of `shipping` with `token`: on BRMS's environment route, or with
    `agent=True` on the Agent listener (`{agent_url}/api/projects/{project}/evaluate/shipping`)
    once its next poll has loaded what is deployed now."""
    if agent:
        brms.wait_for_agent_poll()
        return brms.agent_evaluate(project_id, token, context={"weight": 3, "country": "US"}).status_code
    response = httpx.post(
        f"{brms.url}/api/projects/{project_id}/environments/{environment_id}/evaluate/shipping",
        json={"context": {"weight": 3, "country": "US"}},
        headers={"X-Access-Token": token},
        timeout=10,
    )
    return response.status_code


def live_token(brms: LocalBRMSServer, project_id: str, environment_id: str) -> str:
    response = httpx.get(
        f"{brms.url}/api/projects/{project_id}/environments",
        headers={"Authorization": f"Bearer {brms.pat}"},
        timeout=10,
    )
    response.raise_for_status()
    return next(e["accessToken"] for e in response.json() if e["id"] == environment_id)


def regenerate_out_of_band(brms: LocalBRMSServer, project_id: str, environment_id: str) -> str:
    response = httpx.post(
        f"{brms.url}/api/projects/{project_id}/environments/{environment_id}/regenerate-token",
        headers={"Authorization": f"Bearer {brms.pat}"},
        timeout=10,
    )
    response.raise_for_status()
    return response.json()["accessToken"]


def requests_made(brms: LocalBRMSServer, route_part: str = "", method: str | None = None) -> int:
    """Requests localbrms answered since its last metrics reset, optionally filtered."""
    rows = brms.metrics()["requests"]["byRoute"]
    return sum(
        row["count"]
        for row in rows
        if route_part in row["route"] and (method is None or row["method"] == method)
    )


def unwrap(value: Any) -> Any:
    """The plaintext inside an exported secret envelope (`--show-secrets` export)."""
    if isinstance(value, dict) and "plaintext" in value:
        return json.loads(value["plaintext"])
    return value


def quiet(_line: str) -> None:
    """Swallows engine progress output."""


@dataclass
class TokenStack:
    """One token stack on an isolated backend, pointed at a localbrms."""

    stack: auto.Stack
    engine: EngineEnv
    brms: LocalBRMSServer
    work_dir: Path

    def configure(self, environments: list[dict[str, Any]]) -> None:
        set_object_config(self.work_dir, self.stack.name, "gorules-tokens:environments", environments)

    def tokens(self) -> dict[str, str]:
        outputs = self.stack.outputs()
        assert outputs["accessTokens"].secret, "accessTokens must be a secret stack output"
        return dict(outputs["accessTokens"].value)

    def masked_outputs(self) -> dict[str, Any]:
        """The stack's outputs with secrets masked: one CLI run that decrypts nothing (the
        Automation API's `outputs()` makes two, one of them decrypting everything)."""
        return json.loads(self.engine.cli("stack", "output", "--json", "--stack", self.stack.name,
                                          cwd=self.work_dir).stdout)

    def fingerprints(self) -> dict[str, str]:
        return dict(self.masked_outputs()["fingerprints"])

    def resource_outputs(self, name: str) -> dict[str, Any]:
        """Outputs of one EnvironmentToken as stored in state (decrypted by the CLI)."""
        deployment = self.stack.export_stack().deployment
        for resource in deployment.get("resources", []):
            if resource.get("urn") == self.urn(name):
                return {k: unwrap(v) for k, v in resource.get("outputs", {}).items()}
        raise KeyError(name)

    def up(self, *, settled: bool = True, **kwargs: Any) -> UpRun:
        """``pulumi up``, then an empty plan (``support.plans.up``)."""
        return plans.up(self.stack, settled=settled, **kwargs)

    def preview(self, **kwargs: Any) -> auto.PreviewResult:
        kwargs.setdefault("on_output", quiet)
        return self.stack.preview(**kwargs)

    def set_instance(self, name: str, brms: LocalBRMSServer, url: str | None = None, pat: str | None = None) -> None:
        """Configures instance `name` as a user would (`pulumi config set [--secret] --path`)."""
        self.stack.set_config(f"gorules:instances.{name}.apiUrl", auto.ConfigValue(url or brms.url), path=True)
        self.stack.set_config(f"gorules:instances.{name}.token", auto.ConfigValue(pat or brms.pat, secret=True),
                              path=True)

    def state_tokens(self) -> dict[str, str]:
        """name -> access_token of every EnvironmentToken as stored in state now (decrypted);
        a replaced resource still waiting for its delete (`delete: true`) is not counted."""
        deployment = self.stack.export_stack().deployment
        prefix = self.urn("")
        return {r["urn"][len(prefix):]: unwrap(r["outputs"]["access_token"])
                for r in deployment.get("resources", [])
                if r.get("urn", "").startswith(prefix) and not r.get("delete")}

    def urn(self, name: str) -> str:
        return f"urn:pulumi:{self.stack.name}::gorules-tokens::pulumi-python:dynamic/gorules:EnvironmentToken::{name}"


TOKEN_STACK_FILES = ("__main__.py", "tokenstack")


def new_token_stack(
    engine: EngineEnv,
    brms: LocalBRMSServer,
    folder: Path,
    environments: list[dict[str, Any]],
    stack_name: str = "test",
) -> TokenStack:
    """A stack of the repo's own token stack program in `folder`, configured for `brms`."""
    work = prepare_workspace(REPO_ROOT, folder / f"ws-{stack_name}", only=TOKEN_STACK_FILES)
    stack = create_stack(
        engine,
        work,
        stack_name,
        {
            "gorules:apiUrl": auto.ConfigValue(brms.url),
            "gorules:token": auto.ConfigValue(brms.pat, secret=True),
        },
    )
    handle = TokenStack(stack=stack, engine=engine, brms=brms, work_dir=work)
    handle.configure(environments)
    return handle


def config_entry(seed: dict[str, Any], env: str, name: str | None = None, **extra: Any) -> dict[str, Any]:
    """One `gorules-tokens:environments` entry for a seeded environment. A None-valued extra
    (`instance=None`) is left out, so callers can pass optional settings straight through."""
    found = env_by_name(seed, env)
    settings = {k: v for k, v in extra.items() if v is not None}
    return {"name": name or env, "projectId": seed["projectId"], "environmentId": found["id"], **settings}


def stack_resources(stack: auto.Stack | TokenStack) -> dict[str, dict[str, Any]]:
    """Outputs of every EnvironmentToken in state, by resource name (decrypted by the CLI).
    Takes a bare `auto.Stack` too, for stacks of other programs (user programs, imported
    states of earlier releases)."""
    raw = stack.stack if isinstance(stack, TokenStack) else stack
    found = {}
    for resource in raw.export_stack().deployment.get("resources") or []:
        if resource.get("type", "").endswith("EnvironmentToken"):
            found[resource["urn"].rsplit("::", 1)[-1]] = {k: unwrap(v) for k, v in resource.get("outputs", {}).items()}
    return found

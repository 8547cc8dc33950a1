"""Fixtures for the localbrms tests: one real server (subprocess, free port) per session.

Each test seeds its own project (``demo``), so tests do not share environments or tokens.
Tests that need a private server (restart, CLI, concurrency) start one with ``LocalBRMSServer``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from gorules_tokens_localbrms.testing import LocalBRMSServer

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
OPENAPI_YAML = REPO_ROOT.parent / "shared" / "reference" / "brms-openapi-regenerate-token.yaml"
REGENERATE_PATH = "/api/projects/{projectId}/environments/{environmentId}/regenerate-token"


def openapi_to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0 ``nullable: true`` -> JSON Schema ``type: [T, "null"]``."""
    if isinstance(node, dict):
        out = {k: openapi_to_json_schema(v) for k, v in node.items() if k != "nullable"}
        if node.get("nullable") and "type" in node:
            out["type"] = [node["type"], "null"]
        return out
    if isinstance(node, list):
        return [openapi_to_json_schema(v) for v in node]
    return node


def schema_from_openapi_yaml() -> dict[str, Any] | None:
    """The regenerate 200 schema from shared/reference, or None when shared/ is absent."""
    if not OPENAPI_YAML.exists():
        return None
    import yaml

    doc = yaml.safe_load(OPENAPI_YAML.read_text())
    op = doc["paths"][REGENERATE_PATH]["post"]
    return openapi_to_json_schema(op["responses"]["200"]["content"]["application/json"]["schema"])


def _validator(schema: dict[str, Any]) -> jsonschema.protocols.Validator:
    cls = jsonschema.Draft202012Validator
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


@pytest.fixture(scope="session")
def regenerate_validators() -> list[jsonschema.protocols.Validator]:
    """Our stored copy, plus the live OpenAPI excerpt when shared/ is present."""
    copy = json.loads((HERE / "regenerate_token_response.schema.json").read_text())
    validators = [_validator(copy)]
    live = schema_from_openapi_yaml()
    if live is not None:
        validators.append(_validator(live))
    return validators


@pytest.fixture(scope="session")
def regenerate_schemas() -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(our stored copy without its metadata keys, the live excerpt or None)."""
    copy = json.loads((HERE / "regenerate_token_response.schema.json").read_text())
    for meta in ("$schema", "$comment", "title"):
        copy.pop(meta, None)
    return copy, schema_from_openapi_yaml()


@pytest.fixture(scope="session")
def list_item_validator() -> jsonschema.protocols.Validator:
    return _validator(json.loads((HERE / "environment_list_item.schema.json").read_text()))


@pytest.fixture(scope="session")
def brms(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBRMSServer]:
    db = tmp_path_factory.mktemp("localbrms") / "brms.db"
    with LocalBRMSServer(db) as server:
        yield server


@pytest.fixture(autouse=True)
def _no_leftover_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "brms" in request.fixturenames:
        server: LocalBRMSServer = request.getfixturevalue("brms")
        if server.running:
            server.clear_faults()


@pytest.fixture
def api(brms: LocalBRMSServer) -> Iterator[httpx.Client]:
    """A client holding the admin PAT."""
    with httpx.Client(
        base_url=brms.url, headers={"Authorization": f"Bearer {brms.pat}"}, timeout=30
    ) as client:
        yield client


@pytest.fixture
def anon(brms: LocalBRMSServer) -> Iterator[httpx.Client]:
    """A client without credentials."""
    with httpx.Client(base_url=brms.url, timeout=30) as client:
        yield client


@dataclass
class Demo:
    """A freshly seeded project on the session server, with request helpers."""

    server: LocalBRMSServer
    client: httpx.Client
    data: dict[str, Any]

    @property
    def project_id(self) -> str:
        return str(self.data["projectId"])

    @property
    def release_id(self) -> str:
        return str(self.data["releaseId"])

    def env(self, key: str) -> dict[str, Any]:
        return next(e for e in self.data["environments"] if e["key"] == key)

    @property
    def staging(self) -> dict[str, Any]:
        return self.env("staging")

    @property
    def production(self) -> dict[str, Any]:
        return self.env("production")

    def envs_path(self, env_id: str | None = None) -> str:
        base = f"/api/projects/{self.project_id}/environments"
        return base if env_id is None else f"{base}/{env_id}"

    def list_envs(self) -> list[dict[str, Any]]:
        response = self.client.get(self.envs_path())
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def regenerate(self, env_id: str, pat: str | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {pat}"} if pat else None
        return self.client.post(self.envs_path(env_id) + "/regenerate-token", headers=headers)

    def deploy(self, env_id: str, release_id: str | None = None, pat: str | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {pat}"} if pat else None
        body = {"releaseId": release_id or self.release_id, "environmentId": env_id, "comment": "test"}
        return self.client.post(
            f"/api/projects/{self.project_id}/releases/deploy", json=body, headers=headers
        )

    def evaluate(
        self,
        env_ref: str,
        token: str | None,
        *,
        via: str = "brms",
        key: str = "shipping",
        context: dict[str, Any] | None = None,
        trace: bool = False,
        project_ref: str | None = None,
    ) -> httpx.Response:
        """``via``: ``brms`` or ``rules`` on BRMS; ``agent`` (legacy) or ``agent-rules`` on the
        Agent listener, where ``env_ref`` is unused (an Agent serves one storage) and the
        project defaults to its key, the Agent's storage key."""
        project = project_ref or self.project_id
        if via.startswith("agent"):
            return self.server.agent_evaluate(
                project_ref or str(self.data["projectKey"]), token, key, rules=via == "agent-rules",
                context=context,
            )
        path = {
            "brms": f"/api/projects/{project}/environments/{env_ref}/evaluate/{key}",
            "rules": f"/api/rules/{project}/env/{env_ref}/evaluate/{key}",
        }[via]
        headers = {"X-Access-Token": token} if token is not None else {}
        body = {"context": context if context is not None else {"weight": 2, "country": "US"}, "trace": trace}
        return httpx.post(self.server.url + path, json=body, headers=headers, timeout=30)


@pytest.fixture
def demo(brms: LocalBRMSServer, api: httpx.Client) -> Demo:
    return Demo(brms, api, brms.seed())

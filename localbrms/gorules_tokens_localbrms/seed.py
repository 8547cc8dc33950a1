"""Demo data: a project with a ``shipping`` decision, a release and two environments.

Runs against the SQLite file directly, so it works whether or not a server is running
on that database (WAL + busy timeout make the concurrent write safe).
"""

from __future__ import annotations

import secrets
from typing import Any

from gorules_tokens_localbrms.repo import deployments, environments, projects, releases
from gorules_tokens_localbrms.store import Store

DECISION_KEY = "shipping"

# JDM: input {weight (kg), country} -> output {fee}.
SHIPPING_JDM: dict[str, Any] = {
    "contentType": "application/vnd.gorules.decision",
    "nodes": [
        {"id": "request", "type": "inputNode", "name": "Request", "position": {"x": 80, "y": 160}},
        {
            "id": "fees",
            "type": "decisionTableNode",
            "name": "Shipping fees",
            "position": {"x": 340, "y": 160},
            "content": {
                "hitPolicy": "first",
                "inputs": [
                    {"id": "country", "name": "Country", "field": "country"},
                    {"id": "weight", "name": "Weight (kg)", "field": "weight"},
                ],
                "outputs": [{"id": "fee", "name": "Fee", "field": "fee"}],
                "rules": [
                    {"_id": "r1", "country": '"US"', "weight": "<= 1", "fee": "5"},
                    {"_id": "r2", "country": '"US"', "weight": "> 1", "fee": "10"},
                    {"_id": "r3", "country": "", "weight": "<= 1", "fee": "15"},
                    {"_id": "r4", "country": "", "weight": "", "fee": "25"},
                ],
            },
        },
        {"id": "response", "type": "outputNode", "name": "Response", "position": {"x": 600, "y": 160}},
    ],
    "edges": [
        {"id": "e1", "sourceId": "request", "targetId": "fees", "type": "edge"},
        {"id": "e2", "sourceId": "fees", "targetId": "response", "type": "edge"},
    ],
}

ENVIRONMENTS = (("staging", "Staging", "brms"), ("production", "Production", "deployment"))


def seed(store: Store, project_key: str | None = None) -> dict[str, Any]:
    """Create the demo project (or return the existing one for ``project_key``)."""
    with store.write() as conn:
        existing = projects.get_by_key(conn, project_key) if project_key else None
        if existing is not None:
            return _describe(conn, existing)
        key = project_key or f"shipping-{secrets.token_hex(4)}"
        project = projects.create(conn, name=f"Shipping demo ({key})", key=key)
        projects.put_document(
            conn, project["id"], key=DECISION_KEY, name="Shipping fee", content=SHIPPING_JDM
        )
        release = releases.create(conn, project["id"], name="Initial release")
        deployment = deployments.ensure_default(conn)
        for env_key, name, env_type in ENVIRONMENTS:
            env = environments.create(
                conn,
                project["id"],
                {
                    "name": name,
                    "key": env_key,
                    "type": env_type,
                    "approval_mode": "none",
                    "deployment_id": deployment["id"] if env_type == "deployment" else None,
                },
            )
            environments.deploy(conn, env, release["id"])
        return _describe(conn, project)


def _describe(conn: Any, project: Any) -> dict[str, Any]:
    latest = conn.execute(
        "SELECT * FROM releases WHERE project_id = ? ORDER BY version DESC LIMIT 1", (project["id"],)
    ).fetchone()
    return {
        "projectId": project["id"],
        "projectKey": project["key"],
        "decisionKey": DECISION_KEY,
        "releaseId": latest["id"] if latest is not None else None,
        "environments": [
            {
                "id": e["id"],
                "key": e["key"],
                "name": e["name"],
                "type": e["type"],
                "accessToken": e["access_token"],
            }
            for e in environments.list_live(conn, project["id"])
        ],
    }

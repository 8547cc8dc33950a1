"""Release artifacts in a deployment's storage: what a GoRules Agent downloads and serves.

GoRules writes a release zip to the storage of the environment's Deployment when it deploys
to an external (``deployment``) environment; the zip's ``.config/project.json`` carries the
project, release and environment and the ``accessTokens`` the Agent accepts. We keep that
config as JSON and the documents by reference to the (immutable) release.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from localbrms.ids import new_id, now_iso
from localbrms.repo import projects, releases

CONFIG_VERSION = "1"


def project_config(
    project: sqlite3.Row, release: sqlite3.Row, env: sqlite3.Row, tokens: list[str]
) -> dict[str, Any]:
    """The artifact's ``.config/project.json`` (field names as the Agent reads them)."""
    return {
        "version": CONFIG_VERSION,
        "project": {"id": project["id"], "key": project["key"], "name": project["name"]},
        "accessTokens": list(tokens),
        "release": {
            "id": release["id"],
            "name": release["name"],
            "version": release["semantic_version"],
            "status": release["status"],
            "commitId": None,
        },
        "environment": {"id": env["id"], "key": env["key"], "name": env["name"]},
    }


def write(conn: sqlite3.Connection, env: sqlite3.Row, release_id: str) -> None:
    """Store the artifact of ``release_id`` for ``env``; no storage (no deployment): nothing."""
    if env["type"] != "deployment" or env["deployment_id"] is None:
        return
    project = projects.get(conn, env["project_id"])
    release = releases.get(conn, release_id)
    if project is None or release is None:
        return
    config = project_config(project, release, env, [env["access_token"]])
    conn.execute(
        "INSERT OR REPLACE INTO artifacts(deployment_id, project_key, project_id, environment_id,"
        " release_id, config, revision, written_at) VALUES (?,?,?,?,?,?,?,?)",
        (
            env["deployment_id"],
            project["key"],
            project["id"],
            env["id"],
            release_id,
            json.dumps(config),
            new_id(),
            now_iso(),
        ),
    )


def in_storage(conn: sqlite3.Connection, deployment_id: str) -> list[sqlite3.Row]:
    """Every object in one deployment's storage (what an Agent lists on a poll)."""
    return conn.execute(
        "SELECT * FROM artifacts WHERE deployment_id = ? ORDER BY project_key", (deployment_id,)
    ).fetchall()

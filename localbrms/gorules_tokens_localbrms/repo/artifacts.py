"""Release artifacts in a deployment's storage: what a GoRules Agent downloads and serves.

GoRules writes a release zip to the storage of the environment's Deployment when it deploys
to an external (``deployment``) environment; the zip's ``.config/project.json`` carries the
project, release and environment and the ``accessTokens`` the Agent accepts.

Two storages, chosen by the Deployment's provider: ``aws_s3`` puts the zip
(:mod:`gorules_tokens_localbrms.release_zip`) into the Deployment's bucket, object key = the project key
under the Deployment's path, as a real Agent reads it; the embedded default (``localbrms``)
keeps the config as a SQLite row and the documents by reference to the (immutable) release,
and :func:`zip_of` builds the same zip from them when the Agent listener polls.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from typing import Any

from gorules_tokens_localbrms import release_zip
from gorules_tokens_localbrms.ids import new_id, now_iso
from gorules_tokens_localbrms.object_storage import S3Bucket, StorageConfigError, StorageWriteError, bucket_for
from gorules_tokens_localbrms.repo import deployments, projects, releases

log = logging.getLogger("localbrms.artifacts")

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


def decisions(conn: sqlite3.Connection, release_id: str) -> dict[str, str]:
    """A release's decisions by path (the document key), JDM as JSON text."""
    rows = conn.execute(
        "SELECT key, content FROM release_documents WHERE release_id = ? ORDER BY key", (release_id,)
    ).fetchall()
    return {row["key"]: row["content"] for row in rows}


def zip_of(conn: sqlite3.Connection, row: sqlite3.Row) -> bytes:
    """The release zip of a SQLite artifact row (what an S3 Deployment would hold)."""
    return release_zip.build(json.loads(row["config"]), decisions(conn, row["release_id"]))


def write(conn: sqlite3.Connection, env: sqlite3.Row, release_id: str) -> None:
    """Store the artifact of ``release_id`` for ``env``; no storage (no deployment): nothing.

    An S3 write that fails raises :class:`StorageWriteError` (answered 502): the deploy and its
    transaction fail as a whole, so an environment never points at a release its Agents cannot
    see."""
    if env["type"] != "deployment" or env["deployment_id"] is None:
        return
    project = projects.get(conn, env["project_id"])
    release = releases.get(conn, release_id)
    if project is None or release is None:
        return
    config = project_config(project, release, env, [env["access_token"]])
    deployment = deployments.get(conn, env["deployment_id"])
    try:
        location = deployments.s3_location(deployment)
    except StorageConfigError as exc:
        raise StorageWriteError(f"deploy.storageFailed: {exc}") from None
    if location is not None:
        _put(bucket_for(location), project["key"], release_zip.build(config, decisions(conn, release_id)))
        return
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


def _put(bucket: S3Bucket, name: str, data: bytes) -> None:
    try:
        bucket.put(name, data)
    except Exception as exc:  # botocore errors carry no credentials; log the type and bucket only
        log.warning("writing %s to bucket %s failed: %s", name, bucket.location.bucket, type(exc).__name__)
        raise StorageWriteError(
            f"deploy.storageFailed: could not write {name} to the deployment's storage ({type(exc).__name__})"
        ) from None

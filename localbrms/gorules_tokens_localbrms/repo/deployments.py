"""Deployments: organisation-level storage configs that ``deployment`` environments point to."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from gorules_tokens_localbrms.ids import new_id, now_iso
from gorules_tokens_localbrms.object_storage import LOCAL_PROVIDER, S3Location, StorageConfigError, is_s3

DEFAULT_NAME = "localbrms-agent"


def get(conn: sqlite3.Connection, deployment_id: str | None) -> sqlite3.Row | None:
    if deployment_id is None:
        return None
    return conn.execute(
        "SELECT * FROM deployments WHERE id = ? AND deleted_at IS NULL", (deployment_id,)
    ).fetchone()


def ensure_default(conn: sqlite3.Connection) -> sqlite3.Row:
    """The built-in deployment that stands for this server's ``/agent`` routes."""
    row = conn.execute("SELECT * FROM deployments WHERE name = ?", (DEFAULT_NAME,)).fetchone()
    if row is not None:
        return row
    now = now_iso()
    conn.execute(
        "INSERT INTO deployments(id, name, provider, description, created_at, updated_at)"
        " VALUES (?,?,?,?,?,?)",
        (
            new_id(),
            DEFAULT_NAME,
            LOCAL_PROVIDER,
            "Releases served by localbrms under /agent/{environmentId}",
            now,
            now,
        ),
    )
    row = conn.execute("SELECT * FROM deployments WHERE name = ?", (DEFAULT_NAME,)).fetchone()
    assert row is not None
    return row


def get_by_name(conn: sqlite3.Connection, name: str) -> sqlite3.Row | None:
    return conn.execute(
        "SELECT * FROM deployments WHERE name = ? AND deleted_at IS NULL", (name,)
    ).fetchone()


def configure(
    conn: sqlite3.Connection, name: str, provider: str, configuration: dict[str, Any]
) -> sqlite3.Row:
    """Create or update the Deployment ``name``: ``provider`` ``localbrms`` keeps artifacts in
    SQLite; an S3 provider names a bucket (checked here, so a bad one fails before a deploy)."""
    if is_s3(provider):
        S3Location.from_configuration(configuration)
    elif provider != LOCAL_PROVIDER:
        raise StorageConfigError(f"provider must be aws_s3 or {LOCAL_PROVIDER}")
    now = now_iso()
    text = json.dumps(configuration if is_s3(provider) else {})
    if get_by_name(conn, name) is None:
        conn.execute(
            "INSERT INTO deployments(id, name, provider, description, configuration, created_at, updated_at)"
            " VALUES (?,?,?,?,?,?,?)",
            (new_id(), name, provider, None, text, now, now),
        )
    else:
        conn.execute(
            "UPDATE deployments SET provider = ?, configuration = ?, updated_at = ? WHERE name = ?",
            (provider, text, now, name),
        )
    row = get_by_name(conn, name)
    assert row is not None
    return row


def s3_location(row: sqlite3.Row | None) -> S3Location | None:
    """The bucket of an S3 Deployment; None for the embedded SQLite storage."""
    if row is None or not is_s3(row["provider"]):
        return None
    return S3Location.from_configuration(json.loads(row["configuration"] or "{}"))


def public_view(row: sqlite3.Row) -> dict[str, Any]:
    """A Deployment as the admin API shows it: never the secret key."""
    location = s3_location(row)
    return {
        "id": row["id"],
        "name": row["name"],
        "provider": row["provider"],
        "configuration": location.public() if location is not None else {},
    }

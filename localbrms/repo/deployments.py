"""Deployments: organisation-level storage configs that ``deployment`` environments point to."""

from __future__ import annotations

import sqlite3

from localbrms.ids import new_id, now_iso

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
            "localbrms",
            "Releases served by localbrms under /agent/{environmentId}",
            now,
            now,
        ),
    )
    row = conn.execute("SELECT * FROM deployments WHERE name = ?", (DEFAULT_NAME,)).fetchone()
    assert row is not None
    return row

"""Releases: immutable snapshots of a project's decision documents."""

from __future__ import annotations

import sqlite3

from gorules_tokens_localbrms.ids import new_id, now_iso
from gorules_tokens_localbrms.repo import projects


def get(conn: sqlite3.Connection, release_id: str | None) -> sqlite3.Row | None:
    if release_id is None:
        return None
    return conn.execute("SELECT * FROM releases WHERE id = ?", (release_id,)).fetchone()


def page(
    conn: sqlite3.Connection, project_id: str, *, offset: int, limit: int
) -> tuple[list[sqlite3.Row], int]:
    total = conn.execute("SELECT COUNT(*) FROM releases WHERE project_id = ?", (project_id,)).fetchone()[0]
    rows = conn.execute(
        "SELECT * FROM releases WHERE project_id = ? ORDER BY version DESC LIMIT ? OFFSET ?",
        (project_id, limit, offset),
    ).fetchall()
    return rows, int(total)


def create(
    conn: sqlite3.Connection, project_id: str, *, name: str | None = None, description: str | None = None
) -> sqlite3.Row:
    """Freeze the project's current documents into a new numbered release."""
    version = conn.execute(
        "SELECT COALESCE(MAX(version), 0) + 1 FROM releases WHERE project_id = ?", (project_id,)
    ).fetchone()[0]
    release_id = new_id()
    conn.execute(
        "INSERT INTO releases(id, project_id, name, description, version, semantic_version, status,"
        " created_at) VALUES (?,?,?,?,?,?,?,?)",
        (
            release_id,
            project_id,
            name or f"Release {version}",
            description,
            version,
            f"{version}.0.0",
            "published",
            now_iso(),
        ),
    )
    for doc in projects.documents(conn, project_id):
        conn.execute(
            "INSERT INTO release_documents(release_id, key, name, content) VALUES (?,?,?,?)",
            (release_id, doc["key"], doc["name"], doc["content"]),
        )
    row = get(conn, release_id)
    assert row is not None
    return row


def document(conn: sqlite3.Connection, release_id: str, key: str) -> sqlite3.Row | None:
    """A decision of a release by key; ``pricing.json`` and ``pricing`` name the same one."""
    candidates = [key, key[: -len(".json")]] if key.endswith(".json") else [key, f"{key}.json"]
    for candidate in candidates:
        row = conn.execute(
            "SELECT * FROM release_documents WHERE release_id = ? AND key = ?", (release_id, candidate)
        ).fetchone()
        if row is not None:
            return row
    return None

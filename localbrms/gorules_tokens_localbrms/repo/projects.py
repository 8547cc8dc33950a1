"""Projects and their (published) decision documents."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from gorules_tokens_localbrms.ids import new_id, now_iso


def get(conn: sqlite3.Connection, project_id: str) -> sqlite3.Row | None:
    return conn.execute(
        "SELECT * FROM projects WHERE id = ? AND deleted_at IS NULL", (project_id,)
    ).fetchone()


def get_by_ref(conn: sqlite3.Connection, ref: str) -> sqlite3.Row | None:
    """Evaluation routes accept a project id or its key."""
    return conn.execute(
        "SELECT * FROM projects WHERE (id = ? OR key = ?) AND deleted_at IS NULL", (ref.lower(), ref)
    ).fetchone()


def get_by_key(conn: sqlite3.Connection, key: str) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM projects WHERE key = ? AND deleted_at IS NULL", (key,)).fetchone()


def page(
    conn: sqlite3.Connection,
    *,
    offset: int,
    limit: int,
    search: str | None,
    only_ids: frozenset[str] | None,
    deleted: bool,
) -> tuple[list[sqlite3.Row], int]:
    """One page of projects (oldest first) and the total matching count."""
    where = ["deleted_at IS NOT NULL" if deleted else "deleted_at IS NULL"]
    params: list[Any] = []
    if search:
        where.append("name LIKE ? ESCAPE '\\'")
        escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        params.append(f"%{escaped}%")
    if only_ids is not None:
        where.append(f"id IN ({','.join('?' * len(only_ids))})" if only_ids else "0")
        params.extend(sorted(only_ids))
    clause = " AND ".join(where)
    total = conn.execute(f"SELECT COUNT(*) FROM projects WHERE {clause}", params).fetchone()[0]
    rows = conn.execute(
        f"SELECT * FROM projects WHERE {clause} ORDER BY rowid LIMIT ? OFFSET ?",
        [*params, limit, offset],
    ).fetchall()
    return rows, int(total)


def create(conn: sqlite3.Connection, *, name: str, key: str, protected: bool = False) -> sqlite3.Row:
    now = now_iso()
    project_id = new_id()
    conn.execute(
        "INSERT INTO projects(id, name, key, protected, created_at, updated_at) VALUES (?,?,?,?,?,?)",
        (project_id, name, key, int(protected), now, now),
    )
    row = get(conn, project_id)
    assert row is not None
    return row


def copy_documents(conn: sqlite3.Connection, source_id: str, target_id: str) -> None:
    """``copyContentRef``: start a project with another project's decisions."""
    for doc in documents(conn, source_id):
        put_document(conn, target_id, key=doc["key"], name=doc["name"], content=json.loads(doc["content"]))


def put_document(
    conn: sqlite3.Connection, project_id: str, *, key: str, name: str, content: dict[str, Any]
) -> None:
    now = now_iso()
    conn.execute(
        "INSERT INTO documents(id, project_id, key, name, content, created_at, updated_at)"
        " VALUES (?,?,?,?,?,?,?)"
        " ON CONFLICT(project_id, key) DO UPDATE SET name = excluded.name,"
        " content = excluded.content, updated_at = excluded.updated_at",
        (new_id(), project_id, key, name, json.dumps(content), now, now),
    )


def documents(conn: sqlite3.Connection, project_id: str) -> list[sqlite3.Row]:
    return conn.execute("SELECT * FROM documents WHERE project_id = ? ORDER BY key", (project_id,)).fetchall()

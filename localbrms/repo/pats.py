"""Personal access tokens (stored hashed; the plain token is returned once, on creation)."""

from __future__ import annotations

import json
import sqlite3

from localbrms.ids import hash_token, new_id, new_token, now_iso


def create(
    conn: sqlite3.Connection, *, permissions: list[str], projects: list[str] | None, name: str | None = None
) -> tuple[str, sqlite3.Row]:
    """Create a PAT; returns the plain token (never stored) and its row."""
    token = new_token()
    pat_id = new_id()
    conn.execute(
        "INSERT INTO pats(id, name, token_hash, permissions, projects, created_at) VALUES (?,?,?,?,?,?)",
        (
            pat_id,
            name or "localbrms",
            hash_token(token),
            json.dumps(sorted(set(permissions))),
            None if projects is None else json.dumps(sorted(set(projects))),
            now_iso(),
        ),
    )
    row = conn.execute("SELECT * FROM pats WHERE id = ?", (pat_id,)).fetchone()
    assert row is not None
    return token, row


def find(conn: sqlite3.Connection, token: str) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM pats WHERE token_hash = ?", (hash_token(token),)).fetchone()

"""Personal access tokens (stored hashed; the plain token is returned once, on creation).

localbrms has one user, so every PAT, the server's admin PAT included, is that user's: the
"authenticated user's list" is the whole table. ``expires_at`` (ISO 8601, NULL: never) is what
``GET /api/personal-access-tokens`` reports; a PAT past it is refused on ``/api/*``.
"""

from __future__ import annotations

import json
import sqlite3

from gorules_tokens_localbrms.ids import hash_token, new_id, new_token, now_iso

ADMIN_NAME = "localbrms admin"
_ADMIN_ID_KEY = "admin_pat_id"


def create(
    conn: sqlite3.Connection,
    *,
    permissions: list[str],
    projects: list[str] | None,
    name: str | None = None,
    expires_at: str | None = None,
) -> tuple[str, sqlite3.Row]:
    """Create a PAT; returns the plain token (never stored) and its row."""
    token = new_token()
    pat_id = new_id()
    conn.execute(
        "INSERT INTO pats(id, name, token_hash, permissions, projects, created_at, expires_at)"
        " VALUES (?,?,?,?,?,?,?)",
        (
            pat_id,
            name or "localbrms",
            hash_token(token),
            json.dumps(sorted(set(permissions))),
            None if projects is None else json.dumps(sorted(set(projects))),
            now_iso(),
            expires_at,
        ),
    )
    return token, get(conn, pat_id)  # type: ignore[return-value]


def register_admin(conn: sqlite3.Connection, admin_pat: str) -> sqlite3.Row:
    """The admin PAT's row: one id per database, its hash updated to this server's PAT, its
    expiry kept across restarts (the admin PAT itself is checked before any row)."""
    found = conn.execute("SELECT value FROM meta WHERE key = ?", (_ADMIN_ID_KEY,)).fetchone()
    if found is None:
        pat_id = new_id()
        conn.execute("INSERT INTO meta(key, value) VALUES (?, ?)", (_ADMIN_ID_KEY, pat_id))
    else:
        pat_id = found["value"]
    conn.execute("DELETE FROM pats WHERE token_hash = ? AND id <> ?", (hash_token(admin_pat), pat_id))
    conn.execute(
        "INSERT INTO pats(id, name, token_hash, permissions, projects, created_at) VALUES (?,?,?,?,NULL,?)"
        " ON CONFLICT(id) DO UPDATE SET token_hash = excluded.token_hash",
        (pat_id, ADMIN_NAME, hash_token(admin_pat), json.dumps(["owner"]), now_iso()),
    )
    return get(conn, pat_id)  # type: ignore[return-value]


def find(conn: sqlite3.Connection, token: str) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM pats WHERE token_hash = ?", (hash_token(token),)).fetchone()


def get(conn: sqlite3.Connection, pat_id: str) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM pats WHERE id = ?", (pat_id,)).fetchone()


def list_all(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    return list(conn.execute("SELECT * FROM pats ORDER BY created_at, id"))


def set_expiry(conn: sqlite3.Connection, pat_id: str, expires_at: str | None) -> sqlite3.Row | None:
    conn.execute("UPDATE pats SET expires_at = ? WHERE id = ?", (expires_at, pat_id))
    return get(conn, pat_id)

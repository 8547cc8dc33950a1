"""Environments, their access tokens, deployments of releases and change requests."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from gorules_tokens_localbrms.ids import new_id, new_token, now_iso
from gorules_tokens_localbrms.repo import artifacts

APPROVAL_MODES = ("require_one_per_team", "none_create_request", "require_any", "none")
REVIEWING_MODES = ("require_one_per_team", "require_any")
TOKEN_ATTEMPTS = 5


def get(conn: sqlite3.Connection, project_id: str, env_id: str) -> sqlite3.Row | None:
    return conn.execute(
        "SELECT * FROM environments WHERE id = ? AND project_id = ? AND deleted_at IS NULL",
        (env_id, project_id),
    ).fetchone()


def get_by_ref(conn: sqlite3.Connection, project_id: str, ref: str) -> sqlite3.Row | None:
    """Evaluation routes accept an environment id or its key."""
    return conn.execute(
        "SELECT * FROM environments WHERE project_id = ? AND (id = ? OR key = ?) AND deleted_at IS NULL"
        " ORDER BY id = ? DESC LIMIT 1",
        (project_id, ref.lower(), ref, ref.lower()),
    ).fetchone()


def find_live_by_token(conn: sqlite3.Connection, token: str) -> sqlite3.Row | None:
    return conn.execute(
        "SELECT * FROM environments WHERE access_token = ? AND deleted_at IS NULL", (token,)
    ).fetchone()


def list_live(conn: sqlite3.Connection, project_id: str) -> list[sqlite3.Row]:
    return conn.execute(
        "SELECT * FROM environments WHERE project_id = ? AND deleted_at IS NULL"
        " ORDER BY COALESCE(workflow_order, 1e9), rowid",
        (project_id,),
    ).fetchall()


def key_taken(conn: sqlite3.Connection, project_id: str, key: str, except_id: str | None = None) -> bool:
    row = conn.execute(
        "SELECT id FROM environments WHERE project_id = ? AND key = ? AND deleted_at IS NULL AND id != ?",
        (project_id, key, except_id or ""),
    ).fetchone()
    return row is not None


def _with_fresh_token(conn: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> str:
    """Run ``sql`` whose first parameter is a new token; retry on the (astronomically rare) clash."""
    for _ in range(TOKEN_ATTEMPTS):
        token = new_token()
        try:
            conn.execute(sql, (token, *params))
            return token
        except sqlite3.IntegrityError as exc:
            if "access_token" not in str(exc):
                raise
    raise RuntimeError("could not generate a unique access token")


def create(conn: sqlite3.Connection, project_id: str, fields: dict[str, Any]) -> sqlite3.Row:
    env_id = new_id()
    now = now_iso()
    _with_fresh_token(
        conn,
        "INSERT INTO environments(access_token, id, project_id, name, key, type, approval_mode,"
        " approval_groups, add_to_workflow, workflow_order, deployment_id, created_at, updated_at)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            env_id,
            project_id,
            fields["name"],
            fields.get("key"),
            fields["type"],
            fields.get("approval_mode"),
            json.dumps(fields.get("approval_groups") or []),
            int(bool(fields.get("add_to_workflow"))),
            fields.get("workflow_order"),
            fields.get("deployment_id"),
            now,
            now,
        ),
    )
    row = get(conn, project_id, env_id)
    assert row is not None
    return row


UPDATABLE = (
    "name",
    "key",
    "approval_mode",
    "approval_groups",
    "add_to_workflow",
    "workflow_order",
    "deployment_id",
)


def update(conn: sqlite3.Connection, env: sqlite3.Row, fields: dict[str, Any]) -> sqlite3.Row:
    sets, params = [], []
    for column in UPDATABLE:
        if column in fields:
            value = fields[column]
            if column == "approval_groups":
                value = json.dumps(value or [])
            elif column == "add_to_workflow":
                value = int(bool(value))
            sets.append(f"{column} = ?")
            params.append(value)
    sets.append("updated_at = ?")
    params.append(now_iso())
    conn.execute(f"UPDATE environments SET {', '.join(sets)} WHERE id = ?", (*params, env["id"]))
    row = get(conn, env["project_id"], env["id"])
    assert row is not None
    return row


def soft_delete(conn: sqlite3.Connection, env: sqlite3.Row) -> None:
    now = now_iso()
    conn.execute("UPDATE environments SET deleted_at = ?, updated_at = ? WHERE id = ?", (now, now, env["id"]))


def regenerate_token(conn: sqlite3.Connection, env: sqlite3.Row) -> sqlite3.Row:
    """Replace the token; the old one stops working as soon as this commits."""
    _with_fresh_token(
        conn, "UPDATE environments SET access_token = ?, updated_at = ? WHERE id = ?", (now_iso(), env["id"])
    )
    row = get(conn, env["project_id"], env["id"])
    assert row is not None
    return row


def deploy(conn: sqlite3.Connection, env: sqlite3.Row, release_id: str) -> sqlite3.Row:
    """Point the environment at a release.

    For ``deployment`` environments this is also the moment BRMS writes the artifact (with
    ``.config/project.json`` listing the accepted tokens) to the deployment's storage, which
    Agents poll; see :mod:`gorules_tokens_localbrms.repo.artifacts`.
    """
    conn.execute(
        "UPDATE environments SET release_id = ?, updated_at = ? WHERE id = ?",
        (release_id, now_iso(), env["id"]),
    )
    row = get(conn, env["project_id"], env["id"])
    assert row is not None
    artifacts.write(conn, row, release_id)
    return row


def create_change_request(
    conn: sqlite3.Connection, env: sqlite3.Row, release_id: str, comment: str | None
) -> sqlite3.Row:
    cr_id = new_id()
    now = now_iso()
    conn.execute(
        "INSERT INTO change_requests(id, project_id, environment_id, release_id, type, status, comment,"
        " created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?)",
        (cr_id, env["project_id"], env["id"], release_id, "deployment", "open", comment, now, now),
    )
    return get_change_request(conn, cr_id)  # type: ignore[return-value]


def get_change_request(conn: sqlite3.Connection, cr_id: str) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM change_requests WHERE id = ?", (cr_id,)).fetchone()


def open_change_requests(conn: sqlite3.Connection, env_id: str) -> list[sqlite3.Row]:
    return conn.execute(
        "SELECT * FROM change_requests WHERE environment_id = ? AND status = 'open' ORDER BY created_at",
        (env_id,),
    ).fetchall()


def close_change_request(conn: sqlite3.Connection, cr_id: str, status: str) -> None:
    conn.execute(
        "UPDATE change_requests SET status = ?, updated_at = ? WHERE id = ?", (status, now_iso(), cr_id)
    )

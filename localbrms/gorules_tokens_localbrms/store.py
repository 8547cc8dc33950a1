"""SQLite persistence: schema, per-thread connections and write transactions.

Why this shape: the server handles requests on a thread pool and the ``seed``/``pat``
commands may write to the same file from another process while it runs. So every
connection uses WAL (readers never block the writer) and a busy timeout (writers from
other processes wait instead of failing), and writes in this process are serialised by
a lock and run as ``BEGIN IMMEDIATE`` transactions, so concurrent requests cannot
interleave a read-modify-write.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gorules_tokens_localbrms.ids import new_id, now_iso

SCHEMA_VERSION = 1
BUSY_TIMEOUT_S = 30.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS projects (
    id                      TEXT PRIMARY KEY,
    name                    TEXT NOT NULL,
    key                     TEXT NOT NULL,
    protected               INTEGER NOT NULL DEFAULT 0,
    version                 TEXT NOT NULL DEFAULT 'v1',
    decisions_approval_mode TEXT,
    created_at              TEXT NOT NULL,
    updated_at              TEXT NOT NULL,
    deleted_at              TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS projects_live_key ON projects(key) WHERE deleted_at IS NULL;

CREATE TABLE IF NOT EXISTS documents (
    id         TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects(id),
    key        TEXT NOT NULL,
    name       TEXT NOT NULL,
    content    TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (project_id, key)
);

CREATE TABLE IF NOT EXISTS releases (
    id               TEXT PRIMARY KEY,
    project_id       TEXT NOT NULL REFERENCES projects(id),
    name             TEXT NOT NULL,
    description      TEXT,
    version          INTEGER NOT NULL,
    semantic_version TEXT NOT NULL,
    status           TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    UNIQUE (project_id, version)
);
CREATE TABLE IF NOT EXISTS release_documents (
    release_id TEXT NOT NULL REFERENCES releases(id),
    key        TEXT NOT NULL,
    name       TEXT NOT NULL,
    content    TEXT NOT NULL,
    PRIMARY KEY (release_id, key)
);

CREATE TABLE IF NOT EXISTS deployments (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    provider      TEXT NOT NULL,
    description   TEXT,
    configuration TEXT NOT NULL DEFAULT '{}',
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    deleted_at    TEXT
);

CREATE TABLE IF NOT EXISTS environments (
    id                 TEXT PRIMARY KEY,
    project_id         TEXT NOT NULL REFERENCES projects(id),
    name               TEXT NOT NULL,
    key                TEXT,
    type               TEXT NOT NULL,
    approval_mode      TEXT,
    approval_groups    TEXT NOT NULL DEFAULT '[]',
    add_to_workflow    INTEGER NOT NULL DEFAULT 0,
    workflow_order     INTEGER,
    deployment_id      TEXT REFERENCES deployments(id),
    release_id         TEXT REFERENCES releases(id),
    access_token       TEXT NOT NULL UNIQUE,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    deleted_at         TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS environments_live_key
    ON environments(project_id, key) WHERE deleted_at IS NULL AND key IS NOT NULL;
CREATE INDEX IF NOT EXISTS environments_project ON environments(project_id);

-- What BRMS writes to a deployment's storage when it deploys a release to an environment that
-- points at that deployment: one object per project (the Agent's key), replaced on every deploy.
-- config is the artifact's .config/project.json. revision changes with every write, as
-- the object's content hash would, so a poll tells a redeploy of the same release. (No semicolons in here: the schema is split on them.)
CREATE TABLE IF NOT EXISTS artifacts (
    deployment_id  TEXT NOT NULL REFERENCES deployments(id),
    project_key    TEXT NOT NULL,
    project_id     TEXT NOT NULL REFERENCES projects(id),
    environment_id TEXT NOT NULL REFERENCES environments(id),
    release_id     TEXT NOT NULL REFERENCES releases(id),
    config         TEXT NOT NULL,
    revision       TEXT NOT NULL,
    written_at     TEXT NOT NULL,
    PRIMARY KEY (deployment_id, project_key)
);

CREATE TABLE IF NOT EXISTS change_requests (
    id             TEXT PRIMARY KEY,
    project_id     TEXT NOT NULL REFERENCES projects(id),
    environment_id TEXT NOT NULL REFERENCES environments(id),
    release_id     TEXT NOT NULL REFERENCES releases(id),
    type           TEXT NOT NULL,
    status         TEXT NOT NULL,
    comment        TEXT,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS change_requests_env ON change_requests(environment_id, status);

CREATE TABLE IF NOT EXISTS pats (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    token_hash  TEXT NOT NULL UNIQUE,
    permissions TEXT NOT NULL,
    projects    TEXT,
    created_at  TEXT NOT NULL,
    expires_at  TEXT
);
"""
# Columns added after a table's first release: (table, column, declaration). A database file
# of an earlier localbrms gets them on open (CREATE TABLE IF NOT EXISTS keeps the old table).
ADDED_COLUMNS = (("pats", "expires_at", "TEXT"),)


class Store:
    """Owns the SQLite file; hands out one connection per thread."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._init_schema()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        return conn

    def conn(self) -> sqlite3.Connection:
        """This thread's connection (created on first use)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
            with self._all_lock:
                self._all.append(conn)
        return conn

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A consistent snapshot for multi-statement reads (WAL: never blocks writers)."""
        conn = self.conn()
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """An exclusive write transaction: committed on success, rolled back on error."""
        conn = self.conn()
        with self._write_lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _init_schema(self) -> None:
        with self.write() as conn:
            # executescript() would commit our transaction, so run statements one by one.
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            for table, column, declaration in ADDED_COLUMNS:
                present = {r["name"] for r in conn.execute(f"PRAGMA table_info({table})")}
                if column not in present:
                    conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
            row = conn.execute("SELECT value FROM meta WHERE key = 'organisation_id'").fetchone()
            if row is None:
                conn.execute(
                    "INSERT INTO meta(key, value) VALUES ('organisation_id', ?), ('schema_version', ?),"
                    " ('created_at', ?)",
                    (new_id(), str(SCHEMA_VERSION), now_iso()),
                )

    def organisation_id(self) -> str:
        row = self.conn().execute("SELECT value FROM meta WHERE key = 'organisation_id'").fetchone()
        return str(row["value"])

    def close(self) -> None:
        with self._all_lock:
            for conn in self._all:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
            self._all.clear()
        self._local = threading.local()

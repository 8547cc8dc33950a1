"""Shared fixtures for real-engine tests: the pinned CLI and an isolated engine env."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import pytest
from pulumi import automation as auto

from support.engine import EngineEnv, create_stack, prepare_workspace, pulumi_bin_dir
from support.postgres import PostgresServer, database_name


@pytest.fixture(scope="session")
def pulumi_bin() -> Path:
    return pulumi_bin_dir()


@pytest.fixture
def engine(pulumi_bin: Path, tmp_path: Path) -> EngineEnv:
    """A fresh Pulumi home and `file://` backend for one test."""
    home = tmp_path / "pulumi-home"
    backend = tmp_path / "backend"
    home.mkdir()
    backend.mkdir()
    return EngineEnv(bin_dir=pulumi_bin, home=home, backend=backend)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One real PostgreSQL per pytest process; a failed start errors the test, never skips it."""
    with PostgresServer() as server:
        yield server


@pytest.fixture
def pg_engine(pulumi_bin: Path, tmp_path: Path, postgres_server: PostgresServer, request) -> EngineEnv:
    """Like `engine`, but the backend is a fresh database on `postgres_server`
    (`backend` stays an unused folder; read the state with `postgres_server.rows`)."""
    home = tmp_path / "pulumi-home"
    home.mkdir()
    url = postgres_server.new_database(database_name(request.node.name))
    return EngineEnv(bin_dir=pulumi_bin, home=home, backend=tmp_path / "unused-backend", backend_url_override=url)


@pytest.fixture
def program_stack(engine: EngineEnv, tmp_path: Path) -> Callable[..., auto.Stack]:
    """Factory: a stack of a local program (default: this repo's own) in a temp workspace."""
    def make(program_dir: Path, stack_name: str = "test", links: tuple[str, ...] = (), config=None) -> auto.Stack:
        work = prepare_workspace(program_dir, tmp_path / f"ws-{program_dir.name}-{stack_name}", links)
        return create_stack(engine, work, stack_name, config)

    return make

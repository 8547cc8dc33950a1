"""Shared fixtures for real-engine tests (the pinned CLI and an isolated engine env), and
the rules of the whole run:

- the `engine` marker is set here on every test that uses an engine fixture (they all
  start from `pulumi_bin`), so `-m "not engine"` can never run one by mistake; a test
  without the marker finds, instead of the CLI, a `pulumi` that fails saying so;
- once every test process is done (pytest-xdist runs several), the whole-suite leak scan
  of tests/reliability and its figures (`reliability._suite_end`);
- SIGINT is never left ignored for the processes the tests start (see `pytest_configure`).
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from pulumi import automation as auto

from reliability._harness import Figures, Leak
from reliability._suite_end import gather
from support.engine import EngineEnv, create_stack, prepare_workspace, pulumi_bin_dir
from support.postgres import PostgresServer, database_name

ENGINE_ROOT_FIXTURE = "pulumi_bin"


def pytest_configure(config: pytest.Config) -> None:
    """A shell starts a background job (`./scripts/test.sh &`, some CI runners) with SIGINT
    ignored, and every process a test starts would inherit that: the engine stops its plugins
    with SIGINT and then waits 5 s for each one that ignores it, at the end of every operation
    (measured: a no-change preview 6.6 s instead of 1.6 s). A Python handler, unlike an
    ignored signal, is reset to the default in children."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects anything
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if ENGINE_ROOT_FIXTURE in item.fixturenames and item.get_closest_marker("engine") is None:
            item.add_marker(pytest.mark.engine)
        if _shares_module_fixtures(item):
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::", 1)[0]))
    # Files with `long` tests first, then the other files with engine tests (each file keeps
    # its own order): workers take tests in this order, so the long ones start early and the
    # quick ones fill the gaps at the end.
    long_files = {item.path for item in items if item.get_closest_marker("long") is not None}
    engine_files = {item.path for item in items if item.get_closest_marker("engine") is not None}
    items.sort(key=lambda item: (item.path not in long_files, item.path not in engine_files))


def _shares_module_fixtures(item: pytest.Item) -> bool:
    """Whether the test uses a module- or class-scoped fixture (a shared stack, localbrms or
    venv). scripts/test.sh runs with `--dist loadgroup`: such a file's tests stay on one
    worker, in their order, and build that fixture once; every other test goes to whichever
    worker is free."""
    definitions = getattr(item, "_fixtureinfo").name2fixturedefs.values()
    return any(d.scope in ("module", "class") for defs in definitions for d in defs)


@pytest.fixture(scope="session")
def pulumi_bin() -> Path:
    return pulumi_bin_dir()


@pytest.fixture(scope="session")
def _refusing_pulumi(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("refusing-pulumi")
    shim = folder / "pulumi"
    shim.write_text("#!/bin/sh\necho 'pulumi: this test is not marked engine; use the engine fixtures"
                    " (tests/conftest.py) or mark it pytest.mark.engine' >&2\nexit 97\n")
    shim.chmod(0o755)
    return folder


@pytest.fixture(autouse=True)
def _engine_only_when_marked(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Outside `engine` tests, PATH holds no real `pulumi` (so the Automation API and a bare
    `pulumi` fail too) and the bootstrap's engine location is unset."""
    if request.node.get_closest_marker("engine") is not None:
        return
    refusing = request.getfixturevalue("_refusing_pulumi")
    kept = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and not (Path(p) / "pulumi").exists()]
    monkeypatch.setenv("PATH", os.pathsep.join([str(refusing), *kept]))
    monkeypatch.delenv("GORULES_PULUMI_BIN", raising=False)


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


# -- the end of the run -------------------------------------------------------------------

_SUITE_END = pytest.StashKey[tuple[Figures, list[Leak], int, int]]()


@pytest.hookimpl(trylast=True)  # after each process's own conftests saved what they saw
def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    if hasattr(config, "workerinput"):
        return  # an xdist worker: the controller scans once every worker is done
    watch, figures, processes = gather(config._tmp_path_factory.getbasetemp())
    if not processes:
        return
    leaks = watch.scan()
    config.stash[_SUITE_END] = (figures, leaks, processes, watch.files_scanned())
    if leaks:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if _SUITE_END not in config.stash:
        return
    figures, leaks, processes, files = config.stash[_SUITE_END]
    terminalreporter.section("reliability: whole-suite leak scan")
    if leaks:
        listing = "\n  ".join(sorted({str(leak) for leak in leaks}))
        terminalreporter.write_line(f"FAILED: secret(s) in plain text:\n  {listing}", red=True)
    else:
        terminalreporter.write_line(f"no secret in plain text ({files} files, watches of {processes} process(es))")
    if not figures.values:
        return
    target = os.environ.get("RELIABILITY_FIGURES")
    path = Path(target) if target else config._tmp_path_factory.getbasetemp() / "reliability-figures.json"
    terminalreporter.section("reliability figures")
    for test, values in sorted(figures.values.items()):
        terminalreporter.write_line(f"{test}: " + ", ".join(f"{k}={v}" for k, v in values.items()))
    path.write_text(json.dumps(figures.values, indent=2, sort_keys=True))
    terminalreporter.write_line(f"written to {path}")

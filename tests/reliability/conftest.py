"""Fixtures for the reliability suite (issue 6).

The same `brms`, `seeded` and `token_stack` fixtures as `tests/e2e/conftest.py`, built
from `tests/support`, plus:

- a session-wide leak watch: every token and PAT the suite sees, and every folder and
  line of CLI output it produces. Each test's own folders and output are scanned at its
  teardown (a leak errors that test), `test_zz_leaks.py` scans everything its process has
  seen, and when every test process is done the run scans everything against everything
  (`_suite_end`: with pytest-xdist each worker process has a watch of its own);
- module-scoped variants (one engine, one localbrms, one stack) for tables of cases;
- measured figures, printed after the run and written to JSON
  (`$RELIABILITY_FIGURES`, else `<pytest basetemp>/reliability-figures.json`) by the root
  conftest, which gathers them from every process.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from gorules_tokens_localbrms.testing import LocalBRMSServer
from reliability._harness import CLEAN_PROVIDER_ENV, Driver, Figures, LeakWatch, seed_project
from reliability._suite_end import save
from support.brms import new_token_stack
from support.engine import EngineEnv


_WATCH = LeakWatch()
_FIGURES = Figures()


@pytest.fixture(scope="session")
def leak_watch() -> LeakWatch:
    return _WATCH


@pytest.fixture(scope="session")
def figures() -> Figures:
    return _FIGURES


def _scan_and_fail(watch: LeakWatch, roots: list[Path] | None, texts: list[tuple[str, str]] | None,
                   what: str) -> None:
    """None: every root / text the watch has seen."""
    leaks = watch.scan(roots=roots, texts=texts)
    if leaks:
        listing = "\n  ".join(sorted({str(leak) for leak in leaks}))
        pytest.fail(f"secret(s) in plain text after {what}:\n  {listing}", pytrace=False)


@pytest.fixture(scope="session", autouse=True)
def _whole_session_scan() -> Iterator[None]:
    """Everything this session watched against every secret it saw, once every test of it is
    done, whatever order (or worker) the tests ran in: no test has to sort last."""
    yield
    if _WATCH.secrets:
        _scan_and_fail(_WATCH, None, None, "the whole session")


@pytest.fixture(autouse=True)
def _leak_scan(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[None]:
    """Scans this test's folder and CLI output at teardown; a leak errors the test."""
    watch = _WATCH
    texts_before = len(watch.texts)
    watch.root(tmp_path)
    yield
    roots = [tmp_path]
    if "module_dir" in request.fixturenames:
        roots.append(request.getfixturevalue("module_dir"))
    _scan_and_fail(watch, roots, watch.texts[texts_before:], request.node.nodeid)


def new_engine(pulumi_bin: Path, base: Path) -> EngineEnv:
    home, backend = base / "pulumi-home", base / "backend"
    home.mkdir(parents=True, exist_ok=True)
    backend.mkdir(parents=True, exist_ok=True)
    return EngineEnv(bin_dir=pulumi_bin, home=home, backend=backend, extra_env=dict(CLEAN_PROVIDER_ENV))


def start_brms(folder: Path, watch: LeakWatch) -> LocalBRMSServer:
    server = LocalBRMSServer(folder / "brms.db", pat="pat-" + secrets.token_urlsafe(24)).start()
    watch.secret(server.pat, "admin PAT")
    watch.root(folder)
    return server


def stack_factory(engine: EngineEnv, brms: LocalBRMSServer, folder: Path, watch: LeakWatch,
                  label: str) -> Callable[..., Driver]:
    def make(environments: list[dict[str, Any]], stack_name: str = "test") -> Driver:
        handle = new_token_stack(engine, brms, folder, environments, stack_name)
        watch.root(engine.home)
        watch.root(engine.backend)
        return Driver(handle, watch, label)

    return make


# -- per-test fixtures (same names as tests/e2e) ----------------------------------------


@pytest.fixture
def engine(pulumi_bin: Path, tmp_path: Path) -> EngineEnv:
    return new_engine(pulumi_bin, tmp_path)


@pytest.fixture
def brms(tmp_path: Path) -> Iterator[LocalBRMSServer]:
    server = start_brms(tmp_path, _WATCH)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def seeded(brms: LocalBRMSServer) -> dict[str, Any]:
    return seed_project(brms, _WATCH)


@pytest.fixture
def token_stack(engine: EngineEnv, brms: LocalBRMSServer, tmp_path: Path,
                request: pytest.FixtureRequest) -> Callable[..., Driver]:
    """Factory: the repo's token stack program configured for `brms`, as a `Driver`."""
    return stack_factory(engine, brms, tmp_path, _WATCH, request.node.name)


# -- module-scoped variants (tables of cases sharing one stack) ---------------------------


@pytest.fixture(scope="module")
def module_dir(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    return tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1])


@pytest.fixture(scope="module")
def module_engine(pulumi_bin: Path, module_dir: Path) -> EngineEnv:
    return new_engine(pulumi_bin, module_dir)


@pytest.fixture(scope="module")
def module_brms(module_dir: Path) -> Iterator[LocalBRMSServer]:
    server = start_brms(module_dir, _WATCH)
    try:
        yield server
    finally:
        server.stop()
        # The module's shared folders are scanned once more when everything is done.
        _scan_and_fail(_WATCH, [module_dir], [], f"module {module_dir.name}")


@pytest.fixture(scope="module")
def module_seeded(module_brms: LocalBRMSServer) -> dict[str, Any]:
    return seed_project(module_brms, _WATCH)


@pytest.fixture(scope="module")
def module_token_stack(module_engine: EngineEnv, module_brms: LocalBRMSServer,
                       module_dir: Path) -> Callable[..., Driver]:
    return stack_factory(module_engine, module_brms, module_dir, _WATCH, module_dir.name)


# -- the end of this process's session ------------------------------------------------


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Saves this process's watch and figures; the root conftest merges those of every
    process of the run, scans everything and prints the figures (see `_suite_end`)."""
    save(session.config._tmp_path_factory.getbasetemp(), _WATCH, _FIGURES)

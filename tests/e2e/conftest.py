"""Fixtures for end-to-end tests: localbrms over real HTTP plus the token stack program
run by the real engine."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from pulumi import automation as auto

from localbrms.testing import LocalBRMSServer
from support.brms import TokenStack
from support.engine import REPO_ROOT, EngineEnv, create_stack, prepare_workspace

TOKEN_STACK_FILES = ("__main__.py", "provider", "tokenstack")


@pytest.fixture
def brms(tmp_path: Path) -> Iterator[LocalBRMSServer]:
    with LocalBRMSServer(tmp_path / "brms.db", pat="pat-" + secrets.token_urlsafe(24)) as server:
        yield server


@pytest.fixture
def seeded(brms: LocalBRMSServer) -> dict[str, Any]:
    return brms.seed()


@pytest.fixture
def token_stack(engine: EngineEnv, brms: LocalBRMSServer, tmp_path: Path) -> Callable[..., TokenStack]:
    """Factory: the repo's own token stack program, configured for `brms`."""

    def make(environments: list[dict[str, Any]], stack_name: str = "test") -> TokenStack:
        work = prepare_workspace(REPO_ROOT, tmp_path / f"ws-{stack_name}", only=TOKEN_STACK_FILES)
        stack = create_stack(
            engine,
            work,
            stack_name,
            {
                "gorules:apiUrl": auto.ConfigValue(brms.url),
                "gorules:token": auto.ConfigValue(brms.pat, secret=True),
            },
        )
        handle = TokenStack(stack=stack, engine=engine, brms=brms, work_dir=work)
        handle.configure(environments)
        return handle

    return make

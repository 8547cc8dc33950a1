"""Fixtures for end-to-end tests: localbrms over real HTTP plus the token stack program
run by the real engine."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from gorules_tokens_localbrms.testing import LocalBRMSServer
from support.brms import TokenStack, new_token_stack
from support.engine import EngineEnv


def _local_brms(db_path: Path, pat_prefix: str) -> Iterator[LocalBRMSServer]:
    """One localbrms process with an admin PAT of its own."""
    with LocalBRMSServer(db_path, pat=pat_prefix + secrets.token_urlsafe(24)) as server:
        yield server


@pytest.fixture
def brms(tmp_path: Path) -> Iterator[LocalBRMSServer]:
    yield from _local_brms(tmp_path / "brms.db", "pat-")


@pytest.fixture
def seeded(brms: LocalBRMSServer) -> dict[str, Any]:
    return brms.seed()


@pytest.fixture
def token_stack(engine: EngineEnv, brms: LocalBRMSServer, tmp_path: Path) -> Callable[..., TokenStack]:
    """Factory: the repo's own token stack program, configured for `brms`."""

    def make(environments: list[dict[str, Any]], stack_name: str = "test") -> TokenStack:
        return new_token_stack(engine, brms, tmp_path, environments, stack_name)

    return make


USER_PROGRAM = Path(__file__).resolve().parents[1] / "programs" / "tokens"


@pytest.fixture
def user_program(program_stack, brms: LocalBRMSServer) -> Callable[..., Any]:
    """Factory: a user's own program (tests/programs/tokens) declaring the given tokens."""
    from pulumi import automation as auto
    from tokenstack.stackfile import set_object_config

    def make(tokens: list[dict[str, Any]], stack_name: str = "test") -> auto.Stack:
        stack = program_stack(USER_PROGRAM, stack_name, config={
            "gorules:apiUrl": auto.ConfigValue(brms.url),
            "gorules:token": auto.ConfigValue(brms.pat, secret=True),
        })
        set_object_config(Path(stack.workspace.work_dir), stack_name, "user-tokens:tokens", tokens)
        return stack

    return make


@pytest.fixture
def seeded_eu(brms_eu: LocalBRMSServer) -> dict[str, Any]:
    """A project on `eu`; its ids are unknown to the default instance."""
    return brms_eu.seed()


@pytest.fixture
def brms_eu(tmp_path: Path) -> Iterator[LocalBRMSServer]:
    """A second BRMS process with a PAT of its own: the stack's instance `eu`."""
    yield from _local_brms(tmp_path / "brms-eu.db", "pat-eu-")

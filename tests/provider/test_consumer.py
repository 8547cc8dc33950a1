"""`TokenStackReference` under the SDK's mocks: the previous token of an entry, secret, from
token stacks that export it and from earlier ones that do not; never in the fingerprints; and
the early read of a consumer a rollout started before the regenerate."""

from __future__ import annotations

from typing import Any

import threading
from pathlib import Path

import grpc
import pulumi
import pytest

from gorules_tokens.consumer import READ_STACK_OUTPUTS, START_PROVIDER_FUNCTION, TokenStackReference
from gorules_tokens.handoff import HANDOFF_ENV, HandoffServer
from gorules_tokens.fingerprint import fingerprint

CURRENT = {"production": "envtok_current_prod_1234", "staging": "envtok_current_stage_1234"}
PREVIOUS = {"production": "envtok_previous_prod_1234"}  # staging is a brms environment: no entry


class TokenStackMocks(pulumi.runtime.Mocks):
    """The token stack as a StackReference reads it: its outputs, and which are secret."""

    def __init__(self, outputs: dict[str, Any], server: "HandoffServer | None" = None) -> None:
        self.outputs = outputs
        self.server = server
        self.seen: list[tuple[str, str, int]] = []  # (what, stack, consumers at the hand-off then)

    def _at_handoff(self) -> int:
        return len(self.server.arrived(0)) if self.server else 0

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):  # type: ignore[override]
        assert args.typ == "pulumi:pulumi:StackReference"
        self.seen.append(("reference", args.name, self._at_handoff()))
        secret = [name for name in ("accessTokens", "previousAccessTokens") if name in self.outputs]
        return args.name, {"name": args.name, "outputs": self.outputs, "secretOutputNames": secret}

    def call(self, args: pulumi.runtime.MockCallArgs):  # type: ignore[override]
        self.seen.append((args.token, args.args.get("name", ""), self._at_handoff()))
        if args.token != READ_STACK_OUTPUTS:
            raise NoSuchFunction(args.token)
        return {"outputs": self.outputs}


class NoSuchFunction(grpc.RpcError):
    """How the engine answers an invoke of a function the provider lacks: a gRPC error."""

    def __init__(self, token: str) -> None:
        self.token = token

    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.UNKNOWN

    def details(self) -> str:
        return f"invocation of {self.token} returned an error: Invoke is not implemented by the dynamic provider"


def use(outputs: dict[str, Any], server: "HandoffServer | None" = None, preview: bool = False) -> TokenStackMocks:
    mocks = TokenStackMocks(outputs, server)
    pulumi.runtime.set_mocks(mocks, project="consumer", stack="dev", preview=preview)
    return mocks


async def settled(output: pulumi.Output[Any]) -> tuple[Any, bool]:
    return await output.future(), await output.is_secret()


NEW_STACK = {"accessTokens": CURRENT, "previousAccessTokens": {**PREVIOUS, "staging": None}}


@pytest.fixture
def new_token_stack() -> None:
    use(NEW_STACK)


@pulumi.runtime.test
def test_the_previous_token_is_a_secret_and_none_where_there_is_none(new_token_stack) -> None:
    tokens = TokenStackReference("organization/gorules-tokens/prod")
    prod, staging = tokens.previous_access_token("production"), tokens.previous_access_token("staging")

    async def check() -> None:
        assert await settled(prod) == (PREVIOUS["production"], True)
        assert await settled(staging) == (None, True)

    return pulumi.Output.from_input(check())


@pulumi.runtime.test
def test_a_token_stack_of_an_earlier_release_has_no_previous_tokens() -> None:
    use({"accessTokens": CURRENT})  # no previousAccessTokens at all
    previous = TokenStackReference("organization/gorules-tokens/prod").previous_access_token("production")

    async def check() -> None:
        assert await settled(previous) == (None, True)

    return pulumi.Output.from_input(check())


def test_a_misspelt_entry_fails_naming_it() -> None:
    use(NEW_STACK)

    def program() -> None:
        TokenStackReference("organization/gorules-tokens/prod").previous_access_token("prodution")

    with pytest.raises(KeyError, match="no entry 'prodution'") as info:
        pulumi.runtime.test(program)()
    assert all(token not in str(info.value) for token in [*CURRENT.values(), *PREVIOUS.values()])


def test_the_entry_must_be_a_plain_string() -> None:
    use(NEW_STACK)
    tokens = TokenStackReference("organization/gorules-tokens/prod")
    with pytest.raises(TypeError, match="previous_access_token: entry must be a plain string"):
        tokens.previous_access_token(pulumi.Output.from_input("production"))  # type: ignore[arg-type]


@pulumi.runtime.test
def test_the_previous_token_stays_out_of_the_exported_fingerprints(new_token_stack) -> None:
    tokens = TokenStackReference("organization/gorules-tokens/prod")
    tokens.access_token("production")
    previous = tokens.previous_access_token("production")
    tokens.previous_access_token("staging")
    tokens.export_fingerprints()
    exported = pulumi.Output.all(*(o for o in tokens._handed.values()))

    async def check() -> None:
        assert list(tokens._handed) == ["production"]
        assert await exported.future() == [CURRENT["production"]]
        assert fingerprint(await previous.future()) != fingerprint(CURRENT["production"])

    return pulumi.Output.from_input(check())


STACK = "organization/gorules-tokens/prod"


def test_a_consumer_started_early_reads_the_token_stack_and_starts_its_providers_before_it_waits(
        tmp_path: Path, monkeypatch) -> None:
    # The first read of a stack is what costs CPU (its secrets key is derived then), and so does
    # a provider's process start; done while the consumer waits, its app's outage after the
    # release is only the second, cheap read and the resource's own update.
    server = HandoffServer(tmp_path)
    for name, value in server.env("web", timeout=30).items():
        monkeypatch.setenv(name, value)
    mocks = use(NEW_STACK, server)

    def release_when_waiting() -> None:
        while not server.arrived(5):
            pass
        server.release()

    releaser = threading.Thread(target=release_when_waiting)
    releaser.start()
    pulumi.runtime.test(lambda: TokenStackReference(STACK, start_providers=["pulumi-python"]))()
    releaser.join(5)
    server.close()
    assert mocks.seen == [(READ_STACK_OUTPUTS, STACK, 0), (f"pulumi-python:{START_PROVIDER_FUNCTION}", "", 0),
                          ("reference", STACK, 1)]


@pytest.mark.parametrize("preview", [False, True], ids=["by hand", "preview"])
def test_no_early_read_where_nothing_waits(tmp_path: Path, monkeypatch, preview: bool) -> None:
    monkeypatch.delenv(HANDOFF_ENV, raising=False)
    if preview:
        monkeypatch.setenv(HANDOFF_ENV, str(tmp_path / "none.sock"))  # a rollout's dry run never waits
    mocks = use(NEW_STACK, preview=preview)
    pulumi.runtime.test(lambda: TokenStackReference(STACK, start_providers=["pulumi-python"]))()
    assert [what for what, _stack, _n in mocks.seen] == ["reference"]

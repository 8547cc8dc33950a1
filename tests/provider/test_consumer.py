"""`TokenStackReference` under the SDK's mocks: the previous token of an entry, secret, from
token stacks that export it and from earlier ones that do not; never in the fingerprints."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from gorules_tokens.consumer import TokenStackReference
from gorules_tokens.fingerprint import fingerprint

CURRENT = {"production": "envtok_current_prod_1234", "staging": "envtok_current_stage_1234"}
PREVIOUS = {"production": "envtok_previous_prod_1234"}  # staging is a brms environment: no entry


class TokenStackMocks(pulumi.runtime.Mocks):
    """The token stack as a StackReference reads it: its outputs, and which are secret."""

    def __init__(self, outputs: dict[str, Any]) -> None:
        self.outputs = outputs

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):  # type: ignore[override]
        assert args.typ == "pulumi:pulumi:StackReference"
        secret = [name for name in ("accessTokens", "previousAccessTokens") if name in self.outputs]
        return args.name, {"name": args.name, "outputs": self.outputs, "secretOutputNames": secret}

    def call(self, args: pulumi.runtime.MockCallArgs):  # type: ignore[override]
        return {}


def use(outputs: dict[str, Any]) -> None:
    pulumi.runtime.set_mocks(TokenStackMocks(outputs), project="consumer", stack="dev", preview=False)


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

"""The bench's same_state program stores what an EnvironmentToken stores (issue 25): the same
stack outputs, the same resolved outputs, output names among the field table's, the token
secret, a type token as long as ours. Run for real by `bench/run.sh`."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from gorules_tokens.fields import OUTPUT_NAMES, SECRET_OUTPUTS
from gorules_tokens.stack_outputs import EXPORTED_ATTRIBUTES, TOKEN_STACK_OUTPUTS
from tokenstack.program import StackToken

PROGRAM = Path(__file__).resolve().parents[2] / "bench" / "programs" / "same_state"


@pytest.fixture(scope="module")
def same_state(request: pytest.FixtureRequest):
    sys.path.insert(0, str(PROGRAM))
    request.addfinalizer(lambda: sys.path.remove(str(PROGRAM)))
    import same_state_provider

    return same_state_provider


def test_it_exports_the_token_stacks_outputs(same_state) -> None:
    assert same_state.STACK_OUTPUTS == tuple((o.name, o.attribute, o.secret) for o in TOKEN_STACK_OUTPUTS)
    assert same_state.RESOLVED == EXPORTED_ATTRIBUTES == StackToken.resolved_outputs


def test_a_create_stores_ours_outputs_with_the_same_sizes_and_secrecy(same_state) -> None:
    provider = same_state.SameStateTokenProviderNoWork()
    provider._brms_url = "http://127.0.0.1:41234"
    props = {"project_id": "3f1c2a9e-0000-4000-8000-000000000001",
             "environment_id": "3f1c2a9e-0000-4000-8000-00000000002a", "keepers": {"rotation": "r1"}}
    created = provider.create(props)
    assert created.id == f"{props['project_id']}/{props['environment_id']}"
    outs = created.outs
    assert set(outs) - {"keepers"} <= OUTPUT_NAMES and outs["keepers"] == {"rotation": "r1"}
    assert {"access_token", "fingerprint", "rotated_at", "environment_type", "brms_url"} <= set(outs)
    assert len(outs["access_token"]) == 43 and len(outs["fingerprint"]) == len("sha256:") + 16
    assert len(outs["rotated_at"]) == len("2026-12-04T02:06:21Z") and outs["environment_name"] == "bench-042"
    assert same_state.SECRETS == SECRET_OUTPUTS
    assert provider.diff(created.id, outs, {**props, "keepers": {"rotation": "r2"}}).replaces == ["keepers"]
    assert not provider.diff(created.id, outs, props).changes


def test_its_type_token_is_as_long_as_ours(same_state) -> None:
    # URNs hold it once per resource, in state and in every checkpoint.
    assert same_state.SameStateToken._resource_type_name != StackToken._resource_type_name
    assert len(same_state.SameStateToken._resource_type_name) == len(StackToken._resource_type_name)


def test_its_provider_pickles_to_ours_size(same_state) -> None:
    import pickle

    from gorules_tokens.provider import EnvironmentTokenProvider

    assert len(pickle.dumps(same_state.SameStateTokenProviderNoWork())) == len(pickle.dumps(EnvironmentTokenProvider()))

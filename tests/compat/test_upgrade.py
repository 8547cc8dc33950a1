"""States written by earlier releases keep working: the pickled-class contract, tested.

Every stored `__provider` is a by-reference pickle of
`gorules_tokens.provider.EnvironmentTokenProvider`. For each fixture folder (one per
release, written by `make_fixture.py`), this test rebuilds the world the state was written
in: a localbrms with the same PAT, whose environments hold the tokens the state holds. The
BRMS's identifiers and address are new, so they are mapped in the exported state and the
stack config exactly as they would be if that BRMS had been restored elsewhere. Then this
checkout previews, refreshes, deletes one resource (the engine unpickles the *stored*
provider for it) and destroys the stack.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import httpx
import pytest
from pulumi import automation as auto

from gorules_tokens_localbrms.store import Store
from gorules_tokens_localbrms.testing import LocalBRMSServer
from support.brms import TOKEN_STACK_FILES, TokenStack, evaluate, quiet, stack_resources
from support.engine import REPO_ROOT, EngineEnv, create_stack, prepare_workspace

pytestmark = pytest.mark.engine

FIXTURES = sorted(p.parent for p in Path(__file__).parent.glob("*/fixture.json"))
PICKLED_CLASS = (b"gorules_tokens.provider", b"EnvironmentTokenProvider")


def remap(text: str, mapping: dict[str, str]) -> str:
    for old, new in mapping.items():
        text = text.replace(old, new)
    return text


def set_live_token(db_path: Path, environment_id: str, token: str) -> None:
    """Makes the restored BRMS hold the token the state holds (the BRMS's own store)."""
    with Store(db_path).write() as conn:
        conn.execute("UPDATE environments SET access_token = ? WHERE id = ?", (token, environment_id))


def changes(summary: dict[str, int]) -> dict[str, int]:
    return {op: n for op, n in summary.items() if op != "same" and n}


@pytest.fixture(params=FIXTURES, ids=[p.name for p in FIXTURES])
def fixture_dir(request: pytest.FixtureRequest) -> Path:
    return request.param


def test_fixtures_exist() -> None:
    # Guards the parametrised test below against silently running zero cases.
    assert any(p.name == "v0_1_0" for p in FIXTURES)


def test_state_of_an_earlier_release_previews_refreshes_deletes_and_destroys(
    fixture_dir: Path, engine: EngineEnv, tmp_path: Path
) -> None:
    fixture = json.loads((fixture_dir / "fixture.json").read_text())
    with LocalBRMSServer(tmp_path / "brms.db", pat=fixture["pat"]) as brms:
        seed = brms.seed()
        mapping = {
            fixture["brmsUrl"]: brms.url,
            fixture["projectId"]: seed["projectId"],
            fixture["releaseId"]: seed["releaseId"],
            **{fixture["environmentIds"][e["key"]]: e["id"] for e in seed["environments"]},
        }
        env_ids = {e["key"]: e["id"] for e in seed["environments"]}

        work = prepare_workspace(REPO_ROOT, tmp_path / "ws", only=TOKEN_STACK_FILES)
        stack = create_stack(engine, work, fixture["stack"])
        state_file = tmp_path / "state.json"
        state_file.write_text(remap((fixture_dir / "state.json").read_text(), mapping))
        engine.cli("stack", "import", "--file", str(state_file), "--stack", fixture["stack"], cwd=work)
        stack.set_all_config({
            "gorules:apiUrl": auto.ConfigValue(brms.url),
            "gorules:token": auto.ConfigValue(fixture["pat"], secret=True),
        })
        handle = TokenStack(stack=stack, engine=engine, brms=brms, work_dir=work)
        entries = json.loads(remap(json.dumps(fixture["environments"]), mapping))
        handle.configure(entries)

        stored = stack_resources(handle)
        assert set(stored) == {"staging", "production"}
        for name, outputs in stored.items():
            pickle = base64.b64decode(outputs["__provider"])
            assert all(part in pickle for part in PICKLED_CLASS), f"{name}: __provider is not the contract class"
            set_live_token(brms.db_path, env_ids[name], outputs["access_token"])
        tokens = {name: outputs["access_token"] for name, outputs in stored.items()}
        assert handle.tokens() == tokens  # what consumers read before the upgrade

        brms.reset_metrics()
        preview = handle.preview()
        assert changes(preview.change_summary) == {}, preview.change_summary
        assert brms.request_count() == 0  # a quiet preview asks the BRMS nothing

        refresh = stack.refresh(on_output=quiet)
        assert not {"create", "delete", "replace"} & set(changes(refresh.summary.resource_changes or {}))
        assert {name: o["access_token"] for name, o in stack_resources(handle).items()} == tokens
        for name, token in tokens.items():
            assert evaluate(brms, seed["projectId"], env_ids[name], token) == 200

        # Removing an entry deletes its resource with the provider pickled in the old state;
        # staging has revokeOnDelete, so its token must die and production's must live.
        handle.configure([e for e in entries if e["name"] != "staging"])
        up = handle.up()
        assert changes(up.summary.resource_changes or {}) == {"delete": 1}
        assert evaluate(brms, seed["projectId"], env_ids["staging"], tokens["staging"]) == 401
        assert evaluate(brms, seed["projectId"], env_ids["production"], tokens["production"]) == 200
        assert handle.tokens() == {"production": tokens["production"]}

        stack.destroy(on_output=quiet)
        assert stack_resources(handle) == {}
        # revokeOnDelete is off for production: destroying the stack leaves its token working.
        assert evaluate(brms, seed["projectId"], env_ids["production"], tokens["production"]) == 200
        assert httpx.get(brms.url + "/api/health", timeout=5).status_code == 200

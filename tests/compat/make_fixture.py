"""Writes a compatibility fixture: the state a release of gorules-tokens leaves behind.

Run once per release, from a checkout of that release, and check the folder in:

    .venv/bin/python tests/compat/make_fixture.py tests/compat/v0_1_0

It runs the repo's token stack program through the real engine against a fresh localbrms
(two environments: `staging` of type brms with keepers, a long rotation period and
revoke-on-delete; `production` of type deployment, redeployed) and keeps:

* `state.json`: `pulumi stack export` as written (secrets stay ciphertext under the test
  passphrase; `__provider` is the pickle that release stored);
* `fixture.json`: what a later test needs to rebuild the world around that state: the
  stack and project names, the stack config entries, the BRMS URL and ids the state refers
  to, and the test PAT (a throw-away value for a local BRMS, never a real credential).

The tokens themselves are not written in clear anywhere: a test decrypts them from the
state with the passphrase. `tests/compat/test_upgrade.py` replays every fixture folder.
"""

from __future__ import annotations

import json
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests/, for `support`

from gorules_tokens_localbrms.testing import LocalBRMSServer  # noqa: E402
from support.brms import env_by_name, new_token_stack  # noqa: E402
from support.engine import EngineEnv, pulumi_bin_dir  # noqa: E402

STACK = "compat"
PAT = "compat-fixture-pat-0001-not-a-real-credential"


def environments(seed: dict) -> list[dict]:
    """The stack config entries the fixture is written with."""
    staging, production = env_by_name(seed, "staging"), env_by_name(seed, "production")
    return [
        {
            "name": "staging",
            "projectId": seed["projectId"],
            "environmentId": staging["id"],
            "keepers": {"rotation": "2026-12"},
            "rotateAfter": "3650d",
            "revokeOnDelete": True,
        },
        {"name": "production", "projectId": seed["projectId"], "environmentId": production["id"]},
    ]


def main(dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="gorules-compat-") as tmp:
        root = Path(tmp)
        (root / "home").mkdir()
        (root / "backend").mkdir()
        engine = EngineEnv(bin_dir=pulumi_bin_dir(), home=root / "home", backend=root / "backend")
        with LocalBRMSServer(root / "brms.db", pat=PAT) as brms:
            seed = brms.seed()
            entries = environments(seed)
            stack = new_token_stack(engine, brms, root, entries, STACK)
            stack.up()
            exported = engine.cli("stack", "export", "--stack", STACK, cwd=stack.work_dir).stdout
            (dest / "state.json").write_text(exported)
            fixture = {
                "release": version("gorules-tokens"),
                "project": "gorules-tokens",
                "stack": STACK,
                "pat": PAT,
                "brmsUrl": brms.url,
                "projectId": seed["projectId"],
                "releaseId": seed["releaseId"],
                "environmentIds": {e["key"]: e["id"] for e in seed["environments"]},
                "environments": entries,
            }
            (dest / "fixture.json").write_text(json.dumps(fixture, indent=2) + "\n")
    print(f"fixture written to {dest}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_fixture.py DEST_FOLDER")
    main(Path(sys.argv[1]))

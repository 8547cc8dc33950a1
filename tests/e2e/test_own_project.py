"""`EnvironmentToken` from a user's own Pulumi project, with nothing of this repo but the wheel.

The wheel is built from this checkout, then `examples/own-project/` is copied (not linked) to
a temporary folder with its own `venv/` holding only the wheel and its dependencies, and the
plain `pulumi` CLI runs it against localbrms: `up`, a keepers rotation, `destroy`.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from localbrms.testing import LocalBRMSServer
from support import plans, state
from support.brms import env_by_name, evaluate
from support.engine import REPO_ROOT, EngineEnv

pytestmark = [pytest.mark.engine, pytest.mark.long]

EXAMPLE = REPO_ROOT / "examples" / "own-project"


def run(*args: str, cwd: Path) -> str:
    return subprocess.run(args, cwd=cwd, check=True, capture_output=True, text=True, timeout=600).stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out), str(REPO_ROOT),
        cwd=out)
    (built,) = out.glob("gorules_tokens-*.whl")
    return built


@pytest.fixture(scope="module")
def project(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example project in a temp folder with its own venv: only the wheel and its dependencies.

    The repo's lock file is passed as constraints, so the venv gets the versions CI tested.
    The venv is made without pip and filled by this interpreter's pip (`--python`), with no
    byte-compiling: a venv's own pip and the compile cost 8 s of CPU here and nothing the test
    looks at (Python compiles what it imports)."""
    folder = tmp_path_factory.mktemp("own-project") / "my-platform"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns("venv", "__pycache__", "Pulumi.*.yaml"))
    shutil.copy(wheel, folder)
    run(sys.executable, "-m", "venv", "--without-pip", "venv", cwd=folder)
    run(sys.executable, "-m", "pip", "--python", "venv/bin/python", "install", "--quiet", "--no-compile",
        "--disable-pip-version-check", "-c", str(REPO_ROOT / "requirements.txt"), f"./{wheel.name}", cwd=folder)
    return folder


def test_wheel_ships_the_package_typed_with_ranges(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = next(archive.read(n).decode() for n in names if n.endswith(".dist-info/METADATA"))
    assert "gorules_tokens/provider.py" in names and "gorules_tokens/py.typed" in names
    assert not any(n.startswith(("provider/", "tests/", "tokenstack/")) for n in names)
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    for dependency in ("pulumi", "httpx", "pydantic", "tenacity"):
        line = next(r for r in requires if r.split()[1].startswith(dependency) and "extra ==" not in r)
        assert ">=" in line and "<" in line.replace("<=", ""), line  # a range, not a pin


def test_import_needs_nothing_heavy_and_comes_from_the_venv(project: Path) -> None:
    code = ("import sys, gorules_tokens; from gorules_tokens import EnvironmentToken; "
            "print(gorules_tokens.__file__); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'pydantic', 'httpx', 'fastapi', 'tenacity'}))")
    where, heavy = run("venv/bin/python", "-c", code, cwd=project).splitlines()
    assert Path(where).is_relative_to(project / "venv"), where
    assert heavy == "[]"


def test_up_rotate_destroy_from_an_outside_project(project: Path, engine: EngineEnv, tmp_path: Path) -> None:
    with LocalBRMSServer(tmp_path / "brms.db", pat="own-project-pat-" + "x" * 20) as brms:
        seed = brms.seed()
        staging, production = env_by_name(seed, "staging")["id"], env_by_name(seed, "production")["id"]
        cli_output: list[str] = []
        # Nothing of the repo on PATH: the engine and its plugins find Python only through the
        # project's own venv (Pulumi.yaml `virtualenv: venv`).
        outside = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and not p.startswith(str(REPO_ROOT))]
        engine.extra_env["PATH"] = os.pathsep.join([str(engine.bin_dir), *outside])
        engine.extra_env["PYTHONPATH"] = ""

        def pulumi(*args: str) -> str:
            done = engine.cli(*args, cwd=project)
            cli_output.extend([done.stdout, done.stderr])
            return done.stdout

        pulumi("stack", "init", "dev", "--secrets-provider", "passphrase")
        pulumi("config", "set", "gorules:apiUrl", brms.url)
        pulumi("config", "set", "--secret", "gorules:token", brms.pat)
        pulumi("config", "set", "projectId", seed["projectId"])
        pulumi("config", "set", "stagingEnvironmentId", staging)
        pulumi("config", "set", "productionEnvironmentId", production)

        def tokens() -> dict[str, str]:
            return json.loads(engine.cli("stack", "output", "tokens", "--show-secrets", "--json", cwd=project).stdout)

        def up() -> None:  # then an empty plan (support.plans)
            done = plans.cli_up(engine, project)
            cli_output.extend([done.stdout, done.stderr])

        up()
        first = tokens()
        assert "[secret]" in pulumi("stack", "output", "tokens")
        for name, env_id in (("staging", staging), ("production", production)):
            assert evaluate(brms, seed["projectId"], env_id, first[name]) == 200

        exported = json.loads(engine.cli("stack", "export", "--show-secrets", cwd=project).stdout)
        stored = [r["outputs"]["__provider"] for r in exported["deployment"]["resources"]
                  if r["type"].endswith(":EnvironmentToken")]
        # Stored in plain text since issue 18 (the pickle holds no secret; as a secret it cost
        # bytes and a decryption per token): the plain base64 string, not a secret envelope.
        assert all(isinstance(value, str) for value in stored), stored
        pickles = [base64.b64decode(value) for value in stored]
        assert len(pickles) == 2
        assert all(b"gorules_tokens.provider" in p and b"EnvironmentTokenProvider" in p for p in pickles)

        pulumi("config", "set", "rotation", "2027-01")
        up()
        second = tokens()
        for name, env_id in (("staging", staging), ("production", production)):
            assert second[name] != first[name]
            assert evaluate(brms, seed["projectId"], env_id, second[name]) == 200
            assert evaluate(brms, seed["projectId"], env_id, first[name]) == 401

        pulumi("destroy", "--yes")
        assert evaluate(brms, seed["projectId"], staging, second["staging"]) == 401  # revoke_on_delete
        assert evaluate(brms, seed["projectId"], production, second["production"]) == 200

        secrets = [*first.values(), *second.values(), brms.pat]
        state.assert_no_plaintext(secrets, state.backend_files(engine.backend))
        leaked = [s[:4] for s in secrets for text in cli_output if s in text]
        assert not leaked, f"secrets printed by the CLI: {leaked}"

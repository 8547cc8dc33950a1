"""`EnvironmentToken` from a user's own Pulumi project, with nothing of this repo but the wheel.

The wheel is built from this checkout, then `examples/own-project/` is copied (not linked) to
a temporary folder with its own `venv/` holding only the wheel and its dependencies, and the
plain `pulumi` CLI runs it against localbrms: `up`, a keepers rotation, `destroy`. Then the
wheel's `gorules-tokens rollout` rotates that token stack and runs its consumer
(`examples/own-project/consumer/`, `TokenStackReference`); and a token stack that exports only
`token` (the README's old snippet) is refused before any BRMS request (issue 26, item 1).
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

from gorules_tokens_localbrms.testing import LocalBRMSServer
from support import plans, state
from support.brms import env_by_name, evaluate, requests_made
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


def test_wheel_installs_only_top_level_packages_of_its_own_name(wheel: Path) -> None:
    """Issue 26, item 7: the local BRMS landed as a generic top-level `localbrms` in every
    user's environment, beside their own modules."""
    with zipfile.ZipFile(wheel) as archive:
        tops = {name.split("/")[0] for name in archive.namelist()}
        entry_points = next(archive.read(n).decode() for n in archive.namelist() if n.endswith("entry_points.txt"))
    assert {top for top in tops if not top.endswith(".dist-info")} == {"gorules_tokens", "gorules_tokens_localbrms"}
    assert "gorules-tokens-localbrms = gorules_tokens_localbrms.cli:main" in entry_points


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
            return json.loads(engine.cli("stack", "output", "accessTokens", "--show-secrets", "--json",
                                         cwd=project).stdout)

        def up() -> None:  # then an empty plan (support.plans)
            done = plans.cli_up(engine, project)
            cli_output.extend([done.stdout, done.stderr])

        up()
        first = tokens()
        assert "[secret]" in pulumi("stack", "output", "accessTokens")
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


# -- the rollout, from the wheel, in the project outside the repo (issue 26, item 1) ----------


def _outside_env(engine: EngineEnv) -> dict[str, str]:
    """The engine's isolated environment with nothing of the repo on PATH or PYTHONPATH: the
    user's `pulumi` CLI and their venv's `gorules-tokens` only."""
    outside = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and not p.startswith(str(REPO_ROOT))]
    env = {**os.environ, **engine.env(), "PATH": os.pathsep.join([str(engine.bin_dir), *outside]), "PYTHONPATH": ""}
    env.pop("GORULES_PULUMI_BIN", None)  # as a user runs it: the `pulumi` on PATH
    return env


def _rollout(project: Path, stack: str, env: dict[str, str], report: Path, *args: str) -> tuple[int, str, dict]:
    done = subprocess.run([str(project / "venv" / "bin" / "gorules-tokens"), "rollout", "--cwd", str(project),
                           "--stack", stack, "--json", str(report), *args],
                          env=env, capture_output=True, text=True, timeout=600)
    return done.returncode, done.stdout + done.stderr, (json.loads(report.read_text()) if report.exists() else {})


def _configure_token_stack(pulumi, brms: LocalBRMSServer, seed: dict, stack: str) -> None:
    pulumi("stack", "init", stack, "--secrets-provider", "passphrase")
    pulumi("config", "set", "gorules:apiUrl", brms.url)
    pulumi("config", "set", "--secret", "gorules:token", brms.pat)
    pulumi("config", "set", "projectId", seed["projectId"])
    pulumi("config", "set", "stagingEnvironmentId", env_by_name(seed, "staging")["id"])
    pulumi("config", "set", "productionEnvironmentId", env_by_name(seed, "production")["id"])
    # The consumer, declared as the README says, with `pulumi config set --path`.
    pulumi("config", "set", "--path", "gorules-tokens:consumers[0].dir", "consumer")
    pulumi("config", "set", "--path", "gorules-tokens:consumers[0].stack", stack)
    pulumi("config", "set", "--path", "gorules-tokens:consumers[0].uses[0]", "staging")


def test_a_rollout_from_the_wheel_rotates_and_hands_on_in_an_outside_project(
        project: Path, engine: EngineEnv, tmp_path: Path) -> None:
    stack = "rollout"
    consumer = project / "consumer"
    env = _outside_env(engine)
    engine.extra_env.update(PATH=env["PATH"], PYTHONPATH="")  # for plans.cli_up too
    with LocalBRMSServer(tmp_path / "brms.db", pat="own-rollout-pat-" + "y" * 20) as brms:
        seed = brms.seed()
        staging = env_by_name(seed, "staging")["id"]
        cli_output: list[str] = []

        def pulumi(*args: str, cwd: Path = project) -> str:
            done = subprocess.run([str(engine.bin_dir / "pulumi"), *args, "--non-interactive"], cwd=cwd, env=env,
                                  check=True, capture_output=True, text=True, timeout=600)
            if "--show-secrets" not in args:  # the test's own reads of the secrets are not leaks
                cli_output.extend([done.stdout, done.stderr])
            return done.stdout

        _configure_token_stack(pulumi, brms, seed, stack)
        pulumi("stack", "init", stack, "--secrets-provider", "passphrase", cwd=consumer)
        pulumi("config", "set", "tokenStack", f"organization/my-platform/{stack}", cwd=consumer)

        def handed_on() -> str:
            return json.loads(pulumi("stack", "output", "accessToken", "--show-secrets", "--json", cwd=consumer))

        def live() -> dict[str, str]:
            return json.loads(pulumi("stack", "output", "accessTokens", "--show-secrets", "--json"))

        # A token stack the user already runs (its entries are its outputs' keys: a stack never
        # deployed has none, and the rollout refuses `uses` it cannot check), then a first rollout:
        # nothing is due, the consumer that never ran gets the live token.
        plans.cli_up(engine, project, stack=stack)
        code, output, report = _rollout(project, stack, env, tmp_path / "first.json")
        cli_output.append(output)
        assert code == 0, output
        assert report["rotated"] == []
        assert {c["label"]: c["outcome"] for c in report["consumers"]} == {f"consumer:{stack}": "updated"}
        first = live()
        assert handed_on() == first["staging"]
        assert evaluate(brms, seed["projectId"], staging, first["staging"]) == 200

        # A rotation (keepers) by rollout: the consumer holds the new token when it ends.
        pulumi("config", "set", "rotation", "2027-02")
        brms.reset_metrics()
        code, output, report = _rollout(project, stack, env, tmp_path / "second.json")
        cli_output.append(output)
        assert code == 0, output
        assert sorted(t["entry"] for t in report["rotated"]) == ["production", "staging"]
        assert {c["label"]: c["outcome"] for c in report["consumers"]} == {f"consumer:{stack}": "updated"}
        second = live()
        assert second["staging"] != first["staging"] and handed_on() == second["staging"]
        assert evaluate(brms, seed["projectId"], staging, second["staging"]) == 200
        assert evaluate(brms, seed["projectId"], staging, first["staging"]) == 401
        exported = json.loads(pulumi("stack", "output", "gorulesTokenFingerprints", "--json", cwd=consumer))
        fingerprints = json.loads(pulumi("stack", "output", "fingerprints", "--json"))
        assert exported == {"staging": fingerprints["staging"]}

        pulumi("destroy", "--yes", cwd=consumer)
        pulumi("destroy", "--yes")
        secrets = [*first.values(), *second.values(), brms.pat]
        state.assert_no_plaintext(secrets, state.backend_files(engine.backend))
        leaked = [s[:4] for s in secrets for text in cli_output if s in text]
        assert not leaked, f"secrets printed: {leaked}"


BARE_TOKEN_PROGRAM = '''"""A token stack as the README's old snippet wrote it: one output, `token`."""
import pulumi
from gorules_tokens import EnvironmentToken

config = pulumi.Config()
token = EnvironmentToken("staging", project_id=config.require("projectId"),
                         environment_id=config.require("stagingEnvironmentId"))
pulumi.export("token", token.access_token)
'''


def test_a_token_stack_without_the_outputs_is_refused_before_any_request(
        project: Path, engine: EngineEnv, tmp_path: Path) -> None:
    # Another project folder beside the example, sharing its venv (the wheel) and its consumer.
    folder = tmp_path / "bare-platform"
    folder.mkdir()
    shutil.copy(project / "Pulumi.yaml", folder)
    (folder / "__main__.py").write_text(BARE_TOKEN_PROGRAM)
    (folder / "venv").symlink_to(project / "venv")
    shutil.copytree(project / "consumer", folder / "consumer", ignore=shutil.ignore_patterns("Pulumi.*.yaml"))
    env = _outside_env(engine)
    stack = "bare"
    with LocalBRMSServer(tmp_path / "brms.db", pat="own-bare-pat-" + "z" * 20) as brms:
        seed = brms.seed()
        staging = env_by_name(seed, "staging")["id"]

        def pulumi(*args: str, cwd: Path = folder) -> str:
            return subprocess.run([str(engine.bin_dir / "pulumi"), *args, "--non-interactive"], cwd=cwd, env=env,
                                  check=True, capture_output=True, text=True, timeout=600).stdout

        _configure_token_stack(pulumi, brms, seed, stack)
        pulumi("up", "--yes")
        token = json.loads(pulumi("stack", "output", "token", "--show-secrets", "--json"))
        brms.reset_metrics()
        code, output, _report = _rollout(folder, stack, env, tmp_path / "bare.json", "--rotate", "staging")
        assert code == 2, output
        for name in ("accessTokens", "fingerprints", "rotatedAt", "nextRotationAt", "brmsUrls"):
            assert name in output, (name, output)
        assert "export_token_stack_outputs" in output and "Traceback" not in output
        assert requests_made(brms) == 0
        assert evaluate(brms, seed["projectId"], staging, token) == 200  # still the live token
        pulumi("destroy", "--yes")

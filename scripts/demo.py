"""The main job, end to end: a local BRMS, the token stack, a rotation, a consumer app.

Run through `./scripts/demo.sh` (which installs what is missing). Every step prints one
progress line; secrets are only ever shown masked or as fingerprints. Exits non-zero with
the failing step named. Re-runnable: each run starts from a fresh throw-away BRMS and
fresh stacks on the local backend in GORULES_DEMO_HOME.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

import httpx
from pulumi import automation as auto

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from localbrms.testing import LocalBRMSServer  # noqa: E402
from tokenstack.stackfile import set_object_config  # noqa: E402

CONSUMER = REPO / "examples" / "consumer"
STACK = "demo"
TOKEN_STACK_REF = f"organization/gorules-tokens/{STACK}"
STEPS = 10


class DemoError(RuntimeError):
    pass


class Demo:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.step_no = 0
        self.bin_dir = Path(os.environ["GORULES_PULUMI_BIN"])
        self.env = {
            "PULUMI_HOME": str(home / "pulumi-home"),
            "PULUMI_BACKEND_URL": (home / "backend").as_uri(),
            "PULUMI_CONFIG_PASSPHRASE": os.environ.get("PULUMI_CONFIG_PASSPHRASE", "gorules-tokens-demo"),
            "PULUMI_SKIP_UPDATE_CHECK": "1",
        }
        os.environ.update(self.env)

    def step(self, text: str) -> None:
        self.step_no += 1
        print(f"[demo {self.step_no}/{STEPS}] {text}", flush=True)

    def workspace(self, work_dir: Path) -> auto.LocalWorkspaceOptions:
        return auto.LocalWorkspaceOptions(
            work_dir=str(work_dir),
            pulumi_home=self.env["PULUMI_HOME"],
            env_vars=self.env,
            secrets_provider="passphrase",
            pulumi_command=auto.PulumiCommand(root=str(self.bin_dir.parent)),
        )

    def fresh_stack(self, work_dir: Path) -> auto.Stack:
        """A new stack: a previous run's state points at a BRMS that no longer exists."""
        opts = self.workspace(work_dir)
        workspace = auto.LocalWorkspace(**vars_of(opts))
        if any(s.name == STACK for s in workspace.list_stacks()):
            workspace.remove_stack(STACK, force=True)
        (work_dir / f"Pulumi.{STACK}.yaml").unlink(missing_ok=True)
        return auto.create_stack(STACK, work_dir=str(work_dir), opts=opts)


def vars_of(opts: auto.LocalWorkspaceOptions) -> dict[str, Any]:
    return {
        "work_dir": opts.work_dir,
        "pulumi_home": opts.pulumi_home,
        "env_vars": opts.env_vars,
        "secrets_provider": opts.secrets_provider,
        "pulumi_command": opts.pulumi_command,
    }


def evaluate(url: str, project_id: str, environment_id: str, token: str) -> int:
    response = httpx.post(
        f"{url}/api/projects/{project_id}/environments/{environment_id}/evaluate/shipping",
        json={"context": {"weight": 3, "country": "US"}},
        headers={"X-Access-Token": token},
        timeout=10,
    )
    return response.status_code


def run_app(config_path: Path) -> tuple[int, str]:
    app = subprocess.run(
        [sys.executable, str(CONSUMER / "app.py"), str(config_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return app.returncode, (app.stdout + app.stderr).strip()


def show_outputs(stack: auto.Stack) -> dict[str, auto.OutputValue]:
    outputs = stack.outputs()
    masked = "[secret]" if outputs["accessTokens"].secret else "NOT SECRET"
    print(f"    accessTokens: {masked}")
    for name, fingerprint in outputs["fingerprints"].value.items():
        print(f"    {name:<12} fingerprint {fingerprint}  rotatedAt {outputs['rotatedAt'].value[name]}")
    return outputs


def quiet(_line: str) -> None:
    pass


def main() -> int:
    home = Path(os.environ.get("GORULES_DEMO_HOME") or Path.home() / ".cache" / "gorules-tokens" / "demo")
    (home / "backend").mkdir(parents=True, exist_ok=True)
    (home / "pulumi-home").mkdir(parents=True, exist_ok=True)
    demo = Demo(home)
    current = "start"

    def attempt(name: str, action: Callable[[], Any]) -> Any:
        nonlocal current
        current = name
        return action()

    try:
        with tempfile.TemporaryDirectory(prefix="gorules-demo-") as scratch:
            pat = os.environ.get("GORULES_DEMO_PAT") or "demo-pat-" + secrets.token_urlsafe(24)
            demo.step("starting localbrms on a free loopback port with a throw-away database")
            with LocalBRMSServer(Path(scratch) / "brms.db", pat=pat) as brms:
                print(f"    localbrms at {brms.url}, its Agent listener at {brms.agent_url}")
                demo.step("seeding a project with the `shipping` decision, `staging` and `production`")
                seed = attempt("seed", brms.seed)
                envs = {e["key"]: e for e in seed["environments"]}
                print(f"    project {seed['projectId']}: " + ", ".join(f"{n} ({e['type']})" for n, e in envs.items()))

                demo.step(f"creating stack `{STACK}` of gorules-tokens on {demo.env['PULUMI_BACKEND_URL']}")
                tokens = attempt("token stack init", lambda: demo.fresh_stack(REPO))
                tokens.set_all_config({
                    "gorules:apiUrl": auto.ConfigValue(brms.url),
                    "gorules:token": auto.ConfigValue(pat, secret=True),
                })

                def environments(rotation: str) -> list[dict[str, Any]]:
                    return [
                        {"name": "staging", "projectId": seed["projectId"], "environmentId": envs["staging"]["id"],
                         "keepers": {"rotation": rotation}},
                        {"name": "production", "projectId": seed["projectId"],
                         "environmentId": envs["production"]["id"], "rotateAfter": "30d"},
                    ]

                set_object_config(REPO, STACK, "gorules-tokens:environments", environments("1"))

                demo.step("pulumi up: regenerating both environment tokens")
                up = attempt("pulumi up", lambda: tokens.up(on_output=quiet))
                print(f"    {up.summary.resource_changes}")
                before = show_outputs(tokens)
                old = before["accessTokens"].value["staging"]

                demo.step("consumer stack: StackReference -> app config file (0600) -> app evaluates")
                consumer = attempt("consumer stack init", lambda: demo.fresh_stack(CONSUMER))
                app_config = home / "app" / "shipping-app.json"
                consumer.set_all_config({
                    "gorules-consumer:tokenStack": auto.ConfigValue(TOKEN_STACK_REF),
                    "gorules-consumer:environment": auto.ConfigValue("staging"),
                    "gorules-consumer:appConfigPath": auto.ConfigValue(str(app_config)),
                    "gorules-consumer:apiUrl": auto.ConfigValue(brms.url),
                    "gorules-consumer:projectId": auto.ConfigValue(seed["projectId"]),
                    "gorules-consumer:environmentId": auto.ConfigValue(envs["staging"]["id"]),
                })
                attempt("consumer up", lambda: consumer.up(on_output=quiet))
                mode = oct(app_config.stat().st_mode & 0o777)
                code, said = run_app(app_config)
                print(f"    {app_config} (mode {mode}); {said}")
                if code != 0:
                    raise DemoError("the app could not evaluate with the token from the token stack")

                demo.step("rotating `staging`: its keepers change from rotation=1 to rotation=2")
                set_object_config(REPO, STACK, "gorules-tokens:environments", environments("2"))
                preview = attempt("pulumi preview", lambda: tokens.preview(on_output=quiet))
                print(f"    preview: {preview.change_summary}")
                attempt("pulumi up (rotation)", lambda: tokens.up(on_output=quiet))
                after = show_outputs(tokens)
                new = after["accessTokens"].value["staging"]

                demo.step("checking the BRMS: the old token is refused, the new one accepted")
                old_status = evaluate(brms.url, seed["projectId"], envs["staging"]["id"], old)
                new_status = evaluate(brms.url, seed["projectId"], envs["staging"]["id"], new)
                print(f"    old token -> HTTP {old_status}; new token -> HTTP {new_status}")
                if (old_status, new_status) != (401, 200):
                    raise DemoError(f"expected 401 for the old token and 200 for the new, got {old_status}/{new_status}")

                demo.step("the app, still holding the old token, now fails")
                code, said = run_app(app_config)
                print(f"    {said}")
                if code == 0:
                    raise DemoError("the app still succeeded with a revoked token")

                demo.step("consumer up hands the app the new token; the app succeeds again")
                attempt("consumer up (after rotation)", lambda: consumer.up(on_output=quiet))
                code, said = run_app(app_config)
                print(f"    {said}")
                if code != 0:
                    raise DemoError("the app failed after the consumer stack handed it the new token")

                demo.step("cleaning up: destroying both stacks and stopping localbrms")
                attempt("consumer destroy", lambda: consumer.destroy(on_output=quiet))
                attempt("token stack destroy", lambda: tokens.destroy(on_output=quiet))
    except (DemoError, auto.errors.CommandError, httpx.HTTPError, OSError) as exc:
        print(f"[demo] FAILED at step {demo.step_no} ({current}): {first_line(exc)}", file=sys.stderr)
        return 1
    except Exception as exc:  # an unexpected bug: still name the step, then the type
        print(f"[demo] FAILED at step {demo.step_no} ({current}): {type(exc).__name__}: {first_line(exc)}",
              file=sys.stderr)
        return 2
    print("[demo] done: tokens rotated, old one refused, app re-configured and working")
    return 0


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text if len(text) < 2000 else text[:2000] + " …"


if __name__ == "__main__":
    sys.exit(main())

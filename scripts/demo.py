"""The main job, end to end: a local BRMS, the token stack, a consumer app, and a rotation
done twice: the old way (the token stack alone: the app stays down until someone runs the
consumer) and as a rollout (`gorules-tokens rollout`: the consumer follows at once), with the
outage the app itself saw measured by an app evaluating every 100 ms.

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
import time
from pathlib import Path
from typing import Any, Callable

import httpx
from pulumi import automation as auto

REPO = Path(__file__).resolve().parents[1]
CONSUMER = REPO / "examples" / "consumer"
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(CONSUMER))

from app_loop import AppLoop  # noqa: E402
from gorules_tokens_localbrms.testing import LocalBRMSServer  # noqa: E402
from tokenstack.stackfile import set_object_config  # noqa: E402

STACK = "demo"
TOKEN_STACK_REF = f"organization/gorules-tokens/{STACK}"
STEPS = 10
# Where the app keeps failing in the old way before the demo heals it, as an operator would notice.
MANUAL_WAIT_S = 3.0


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


def gorules_tokens(demo: Demo, *args: str) -> tuple[int, list[str]]:
    """The `gorules-tokens` command, run as a user runs it, in the token project's folder."""
    run = subprocess.run(
        [str(Path(sys.executable).with_name("gorules-tokens")), *args, "--cwd", str(REPO), "--stack", STACK],
        env={**os.environ, **demo.env}, capture_output=True, text=True, timeout=600,
    )
    lines = [line for line in (run.stdout + run.stderr).splitlines() if line.strip()]
    for line in lines:
        print(f"    {line}")
    return run.returncode, lines


def expect_exit(demo: Demo, wanted: int, *args: str) -> list[str]:
    """Runs `gorules-tokens` and fails the step unless it exits with `wanted`."""
    code, lines = gorules_tokens(demo, *args)
    if code != wanted:
        raise DemoError(f"gorules-tokens {' '.join(args)} exited {code}, expected {wanted}")
    return lines


def app_outage(loop: AppLoop) -> str:
    """The outage the app saw while the loop ran, in words."""
    outages = loop.outages()
    if not outages:
        return f"the app never failed ({len(loop.calls)} calls)"
    if len(outages) > 1:
        raise DemoError(f"the app went down {len(outages)} times during one rotation")
    [outage] = outages
    if outage.seconds is None:
        return f"the app is still down ({outage.failed_calls} failed calls)"
    return f"the app was down {outage.seconds:.1f} s ({outage.failed_calls} failed calls of {len(loop.calls)})"


def window_of(lines: list[str]) -> str:
    return next((line.split("; window ")[1].split(";")[0] for line in lines if "; window " in line), "n/a")


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

                demo.step(f"creating the token stack `{STACK}` and its consumer on {demo.env['PULUMI_BACKEND_URL']}")
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
                # The consumer stack the rollout keeps current: examples/consumer, reading staging.
                set_object_config(REPO, STACK, "gorules-tokens:consumers",
                                  [{"dir": "examples/consumer", "stack": STACK, "uses": ["staging"]}])
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

                demo.step("gorules-tokens rollout: both tokens regenerated, then the consumer hands staging's on")
                attempt("first rollout", lambda: expect_exit(demo, 0, "rollout"))
                before = show_outputs(tokens)
                old = before["accessTokens"].value["staging"]

                demo.step("the app evaluates with the token from its config file; status: every consumer current")
                mode = oct(app_config.stat().st_mode & 0o777)
                code, said = run_app(app_config)
                print(f"    {app_config} (mode {mode}); {said}")
                if code != 0:
                    raise DemoError("the app could not evaluate with the token from the token stack")
                attempt("status", lambda: expect_exit(demo, 0, "status"))
                print("    status exit code 0: every consumer holds the current token")

                demo.step("the old way: `pulumi up` of the token stack alone rotates staging (rotation=1 -> 2)")
                set_object_config(REPO, STACK, "gorules-tokens:environments", environments("2"))
                with AppLoop(app_config) as manual:
                    attempt("pulumi up (token stack alone)", lambda: tokens.up(on_output=quiet))
                    time.sleep(MANUAL_WAIT_S)
                    code, said = run_app(app_config)
                    print(f"    {said}")
                    if code == 0:
                        raise DemoError("the app still succeeded with a revoked token")
                    attempt("status (stale)", lambda: expect_exit(demo, 3, "status"))
                    print("    status exit code 3: the consumer holds a dead token, and nothing runs it")

                    demo.step("gorules-tokens rollout: nothing to rotate, the stale consumer is updated")
                    attempt("healing rollout", lambda: expect_exit(demo, 0, "rollout"))
                    time.sleep(0.5)  # a few more calls of the app, on the new token
                print(f"    old way: {app_outage(manual)}, until this rollout ran the consumer; "
                      "without it, until someone runs the consumer")

                demo.step("the new way: staging rotated as a rollout (rotation=2 -> 3), the app running all along")
                mid = tokens.outputs()["accessTokens"].value["staging"]
                set_object_config(REPO, STACK, "gorules-tokens:environments", environments("3"))
                with AppLoop(app_config) as rolling:
                    lines = attempt("rollout", lambda: expect_exit(demo, 0, "rollout"))
                    time.sleep(0.5)
                outage = app_outage(rolling)
                print(f"    app-observed outage: {outage}; rollout window {window_of(lines)}")
                if "still down" in outage:
                    raise DemoError("the app is still down after the rollout")
                new = tokens.outputs()["accessTokens"].value["staging"]

                demo.step("checking the BRMS: the two old tokens are refused, the new one accepted")
                statuses = [evaluate(brms.url, seed["projectId"], envs["staging"]["id"], t) for t in (old, mid, new)]
                print(f"    old token -> HTTP {statuses[0]}; previous -> HTTP {statuses[1]}; "
                      f"new token -> HTTP {statuses[2]}")
                if statuses != [401, 401, 200]:
                    raise DemoError(f"expected 401, 401 and 200, got {statuses}")

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
    print("[demo] done: tokens rotated by a rollout, old ones refused, the app on the new token")
    return 0


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text if len(text) < 2000 else text[:2000] + " …"


if __name__ == "__main__":
    sys.exit(main())

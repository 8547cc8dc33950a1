"""Real-engine harness: an isolated Pulumi home, a `file://` backend and a passphrase,
and stacks of a local program driven through `pulumi.automation`.

Each test gets its own folders so stacks, locks and plugin caches never collide, and
the raw backend files stay on disk for leak scans (see `support.state`).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import yaml
from pulumi import automation as auto

REPO_ROOT = Path(__file__).resolve().parents[2]
VENV = REPO_ROOT / ".venv"
PASSPHRASE = "gorules-tokens-test-passphrase"


def pulumi_bin_dir() -> Path:
    """The pinned engine: taken from the README's bootstrap when it ran, else installed
    now (a warm install only checks a stamp and a version)."""
    preset = os.environ.get("GORULES_PULUMI_BIN")
    if preset and (Path(preset) / "pulumi").exists():
        return Path(preset)
    out = subprocess.run(
        [str(REPO_ROOT / "engine" / "install-pulumi.sh")],
        check=True,
        capture_output=True,
        text=True,
    )
    return Path(out.stdout.strip().splitlines()[-1])


@dataclass
class EngineEnv:
    """Folders and variables that isolate one test's use of the engine."""

    bin_dir: Path
    home: Path
    backend: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    # Another backend (such as `postgres://`) instead of the `file://` folder.
    backend_url_override: str | None = None

    @property
    def backend_url(self) -> str:
        return self.backend_url_override or self.backend.as_uri()

    def env(self) -> dict[str, str]:
        values = {
            "PULUMI_HOME": str(self.home),
            "PULUMI_BACKEND_URL": self.backend_url,
            "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
            "PULUMI_SKIP_UPDATE_CHECK": "1",
            "PULUMI_DIY_BACKEND_NO_LEGACY_WARNING": "true",
            # Only the pinned engine's own plugins, never stray ones from PATH.
            "PULUMI_IGNORE_AMBIENT_PLUGINS": "true",
            "PATH": f"{self.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        values.update(self.extra_env)
        return values

    def command(self) -> auto.PulumiCommand:
        return _command(self.bin_dir)

    def cli(self, *args: str, cwd: Path, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
        """Runs the plain CLI, as a user would, in `cwd`."""
        env = {**os.environ, **self.env()}
        return subprocess.run(
            [str(self.bin_dir / "pulumi"), *args, "--non-interactive"],
            cwd=cwd,
            env=env,
            check=check,
            capture_output=True,
            text=True,
            timeout=timeout,
        )


@functools.cache
def _command(bin_dir: Path) -> auto.PulumiCommand:
    """One per process: building one runs `pulumi version` (0.16 s of CPU), once per stack."""
    return auto.PulumiCommand(root=str(bin_dir.parent))


def prepare_workspace(
    program_dir: Path, dest: Path, links: tuple[str, ...] = (), only: tuple[str, ...] | None = None
) -> Path:
    """Lays out a program in `dest` so its stack config files stay out of the repo.

    `Pulumi.yaml` is copied with its virtualenv made absolute (the repo's `.venv`); the
    program's files (or just `only`) and any `links` (paths relative to the repo, such as
    `provider`) are symlinked so the dynamic provider imports the code under test, by
    reference.
    """
    dest.mkdir(parents=True, exist_ok=True)
    project = yaml.safe_load((program_dir / "Pulumi.yaml").read_text())
    runtime = project.get("runtime")
    if isinstance(runtime, str):
        runtime = {"name": runtime}
    runtime.setdefault("options", {})["virtualenv"] = str(VENV)
    project["runtime"] = runtime
    (dest / "Pulumi.yaml").write_text(yaml.safe_dump(project, sort_keys=False))
    for entry in program_dir.iterdir():
        if entry.name == "Pulumi.yaml" or entry.name.startswith("Pulumi.") or entry.name.startswith("."):
            continue
        if entry.name == "__pycache__" or (only is not None and entry.name not in only):
            continue
        target = dest / entry.name
        if not target.exists():
            target.symlink_to(entry)
    for rel in links:
        target = dest / Path(rel).name
        if not target.exists():
            target.symlink_to(REPO_ROOT / rel)
    return dest


def create_stack(
    engine: EngineEnv,
    work_dir: Path,
    stack_name: str = "test",
    config: Mapping[str, auto.ConfigValue] | None = None,
) -> auto.Stack:
    """A new stack of the local program in `work_dir` on the isolated backend."""
    opts = auto.LocalWorkspaceOptions(
        work_dir=str(work_dir),
        pulumi_home=str(engine.home),
        env_vars=engine.env(),
        secrets_provider="passphrase",
        pulumi_command=engine.command(),
    )
    stack = auto.create_stack(stack_name, work_dir=str(work_dir), opts=opts)
    if config:
        stack.set_all_config(dict(config))
    return stack


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)

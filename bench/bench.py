"""Benchmark: what EnvironmentToken costs on top of the Pulumi engine, and how it grows with N.

For each N it drives two stacks through the real pinned CLI on an isolated `file://` backend:

* **ours**: the repo's token stack program (`__main__.py` + `tokenstack/` + `provider/`) with N
  `EnvironmentToken`s, one per environment of one project of a local `localbrms` (127.0.0.1);
* **baseline**: `tests/programs/noop` with N no-op Python dynamic resources (the engine's floor);
* **same_state**: `bench/programs/same_state` with N no-op dynamic resources that carry the same
  inputs, id and outputs (names, sizes, which are secret) as ours, the same explicit provider and
  the same stack outputs: the engine's floor *for our state*, so ours / same_state is what our code
  costs and same_state / baseline what the resource's shape costs (issue 25).

Operations, each one `pulumi` CLI process measured as a whole process tree (see procmon.py):
`up` (create N), no-change `preview`, `refresh`, `rotate` (keepers / `noop:value` change, so all
N are replaced) and `destroy`. Within a repeat the two stacks alternate per operation (A B, then
B A on the next repeat). localbrms request and connection counters are reset before and read
after every operation. Raw results go to bench/results/*.json; bench/report.py turns them into
tables and a plot.

Not a test: it never asserts timings. It fails only if a pulumi command fails.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path[:0] = [str(BENCH), str(REPO), str(REPO / "tests")]

import httpx  # noqa: E402
import psutil  # noqa: E402

from gorules_tokens_localbrms.testing import LocalBRMSServer  # noqa: E402
from procmon import run_measured  # noqa: E402
from support.engine import EngineEnv, prepare_workspace, pulumi_bin_dir  # noqa: E402
from tokenstack.stackfile import set_object_config  # noqa: E402

OPS = ("up", "preview", "refresh", "rotate", "destroy")
KINDS = ("ours", "baseline", "same_state")
# Kinds whose stack is configured with the token stack's environments list (the same entries).
LISTED_KINDS = ("ours", "same_state")
PROFILE_MODES = ("spans", "cprofile", "cli", "skip-checkpoints")
TOKEN_STACK_FILES = ("__main__.py", "tokenstack")
SAME_STATE_PROGRAM = BENCH / "programs" / "same_state"
ENVIRONMENTS_FILE = "bench-environments.json"
# --environments-file: the list goes to `gorules-tokens:environmentsFile` (issue 25) instead of
# the stack config, so the engine never carries it (the language host's one environment variable
# for the whole config is capped at 128 KiB by Linux, too small for 1,000 inline entries).
DEFAULT_REPEATS = {1: 3, 10: 3, 100: 5, 300: 1}
SUMMARY = re.compile(
    r"^\s*(?:[+~\-]+\s*)?(\d+) (to create|to update|to replace|to delete|created|updated|replaced|deleted|unchanged)\s*$",
    re.M,
)


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class BenchError(RuntimeError):
    pass


# -- environment ---------------------------------------------------------------------------


def machine_info(bin_dir: Path) -> dict[str, Any]:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    version = subprocess.run([str(bin_dir / "pulumi"), "version"], capture_output=True, text=True).stdout.strip()
    import pulumi

    return {
        "cpu": cpu,
        "cores": psutil.cpu_count(logical=True),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "kernel": platform.release(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "pulumi_cli": version,
        "pulumi_sdk": pulumi.__version__ if hasattr(pulumi, "__version__") else "3.272.0",
        "git_commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
        ).stdout.strip(),
        # Uncommitted changes to the measured code (the numbers are of the working tree).
        "git_dirty": subprocess.run(
            ["git", "status", "--porcelain", "--", "provider", "tokenstack", "__main__.py", "tests/programs/noop"],
            cwd=REPO, capture_output=True, text=True,
        ).stdout.splitlines()[:20],
    }


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def create_environments(brms: LocalBRMSServer, count: int, projects: int = 1) -> list[tuple[str, str]]:
    """`count` environments of type `brms` (no release, so no redeploy), dealt round-robin over
    `projects` projects: (project id, environment id) pairs, in creation order."""
    headers = {"Authorization": f"Bearer {brms.pat}"}
    with httpx.Client(base_url=brms.url, headers=headers, timeout=30) as client:
        project_ids = []
        for p in range(projects):
            key = f"bench-{os.getpid()}-{int(time.time())}-{p}"
            project = client.post("/api/projects", json={"name": f"bench-{p}", "key": key})
            project.raise_for_status()
            project_ids.append(project.json()["id"])
        pairs = []
        for i in range(count):
            project_id = project_ids[i % projects]
            r = client.post(
                f"/api/projects/{project_id}/environments", json={"name": f"bench-{i:03d}", "type": "brms"}
            )
            r.raise_for_status()
            pairs.append((project_id, r.json()["id"]))
    return pairs


# -- stacks --------------------------------------------------------------------------------


class Stack:
    def __init__(self, kind: str, work: Path, name: str, project: str, bench: "Bench") -> None:
        self.kind = kind
        self.work = work
        self.name = name
        self.project = project
        self.bench = bench
        self.n = 0

    def configure(self, n: int, version: str, keepers: bool = True) -> None:
        """`keepers=False` (no rotation at this N) leaves the keepers out: the language host hands
        the program the whole stack config in one environment variable, which Linux caps at
        128 KiB, and 1,000 entries with keepers exceed it (see docs/PERFORMANCE.md)."""
        self.n = n
        if self.kind in LISTED_KINDS:
            envs = []
            for i in range(n):
                instance, project_id, environment_id = self.bench.targets[i]
                entry = {"name": f"token-{i:03d}", "projectId": project_id, "environmentId": environment_id}
                if instance is not None:
                    entry["instance"] = instance
                if keepers:
                    entry["keepers"] = {"rotation": version}
                envs.append(entry)
            if self.bench.environments_file:
                (self.work / ENVIRONMENTS_FILE).write_text(json.dumps(envs))
                set_object_config(self.work, self.name, "gorules-tokens:environmentsFile", ENVIRONMENTS_FILE)
            else:
                set_object_config(self.work, self.name, "gorules-tokens:environments", envs)
        else:
            set_object_config(self.work, self.name, "noop:count", str(n))
            set_object_config(self.work, self.name, "noop:value", version)

    def op_args(self, op: str, extra: tuple[str, ...] = ()) -> list[str]:
        common = ["--stack", self.name, "--non-interactive", "--color", "never", *extra]
        if op == "preview":
            return ["preview", *common, "--expect-no-changes"]
        if op in ("up", "rotate"):
            return ["up", *common, "--yes", "--skip-preview", "--suppress-outputs"]
        if op == "refresh":
            return ["refresh", *common, "--yes", "--skip-preview", "--suppress-outputs"]
        if op == "destroy":
            return ["destroy", *common, "--yes", "--skip-preview", "--suppress-outputs"]
        raise ValueError(op)

    def state_file(self) -> Path:
        return self.bench.backend / ".pulumi" / "stacks" / self.project / f"{self.name}.json"


def _secret_plaintext(value: Any) -> Any:
    if isinstance(value, dict) and "plaintext" in value:
        return json.loads(value["plaintext"])
    return value


def state_sizes(stack: Stack) -> dict[str, Any]:
    """Bytes of the stack's checkpoint file and of `__provider`, right after `up` created N.

    The file is compact JSON. `__provider` is stored as a secret (the engine encrypts it), so
    its plaintext comes from `pulumi stack export --show-secrets` (kept in memory only).
    """
    path = stack.state_file()
    raw = path.read_bytes()
    data = json.loads(raw)
    resources = data.get("checkpoint", {}).get("latest", {}).get("resources", []) or []
    typed = [r for r in resources if r.get("type", "").startswith("pulumi-python:dynamic")]
    others = [r for r in resources if r not in typed]
    out: dict[str, Any] = {"state_bytes": len(raw), "resources": len(resources), "dynamic_resources": len(typed)}
    if not typed:
        return out
    compact = [len(json.dumps(r, separators=(",", ":")).encode()) for r in typed]
    out["resource_json_bytes_mean"] = round(sum(compact) / len(compact), 1)
    out["state_bytes_per_resource"] = round(len(raw) / len(typed), 1)
    out["non_dynamic_json_bytes"] = sum(len(json.dumps(r, separators=(",", ":")).encode()) for r in others)
    stored = typed[0].get("outputs", {}).get("__provider")
    out["provider_stored_bytes"] = len(json.dumps(stored, separators=(",", ":")).encode())
    exported = json.loads(stack.bench.cli(stack.work, "stack", "export", "--stack", stack.name, "--show-secrets"))
    for r in exported.get("deployment", {}).get("resources", []) or []:
        if r.get("urn") == typed[0]["urn"]:
            plain = _secret_plaintext(r.get("outputs", {}).get("__provider"))
            if isinstance(plain, str):
                out["provider_b64_bytes"] = len(plain.encode())
                out["provider_pickle_bytes"] = len(base64.b64decode(plain))
            out["outputs"] = len(r.get("outputs", {}))
            out["inputs"] = len(r.get("inputs", {}))
    # Where the per-resource bytes go: the largest top-level fields of one entry.
    out["resource_fields_bytes"] = {
        k: len(json.dumps(v, separators=(",", ":")).encode()) for k, v in typed[0].items()
    }
    for part in ("inputs", "outputs"):
        out[f"{part}_fields_bytes"] = {
            k: len(json.dumps(v, separators=(",", ":")).encode()) for k, v in typed[0].get(part, {}).items()
        }
    return out


def summary(text: str) -> dict[str, int]:
    # Only the final "Resources:" block (progress lines do not match the pattern anyway).
    block = text.rsplit("Resources:", 1)[-1]
    return {word: int(count) for count, word in SUMMARY.findall(block)}


def merge_metrics(all_metrics: list[dict[str, Any]]) -> dict[str, Any]:
    """The request and connection counters of several localbrms, added up."""
    keys = ("opened", "requestsOnNewConnections", "requestsOnReusedConnections")
    return {
        "requests": {
            "total": sum(m["requests"]["total"] for m in all_metrics),
            "byRoute": [row for m in all_metrics for row in m["requests"]["byRoute"]],
        },
        "connections": {k: sum(m["connections"][k] for m in all_metrics) for k in keys},
    }


def route_counts(metrics: dict[str, Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in metrics["requests"]["byRoute"]:
        key = f"{row['method']} {row['route']} {row['status']}"
        counts[key] = counts.get(key, 0) + row["count"]
    return counts


# -- the benchmark -------------------------------------------------------------------------


class Bench:
    def __init__(
        self, root: Path, max_n: int, projects: int = 1, instances: int = 1, environments_file: bool = False,
        kinds: tuple[str, ...] = KINDS,
    ) -> None:
        self.root = root
        self.kinds = kinds
        self.environments_file = environments_file
        self.bin_dir = pulumi_bin_dir()
        self.home = root / "pulumi-home"
        self.backend = root / "backend"
        self.home.mkdir(parents=True)
        self.backend.mkdir(parents=True)
        self.engine = EngineEnv(bin_dir=self.bin_dir, home=self.home, backend=self.backend)
        self.logs = root / "logs"
        self.logs.mkdir()
        self.counter = 0
        self.projects, self.instances = projects, instances
        # One localbrms per BRMS instance: the first is the stack's default instance, the others
        # are named instances of gorules:instances ("i1", "i2", ...). No Agent listener: its
        # poller would add load the figures never had.
        self.servers: list[LocalBRMSServer] = []
        try:
            for i in range(instances):
                server = LocalBRMSServer(root / f"brms{i}.db", log_level="warning", agent=False)
                self.servers.append(server)
                server.start()
            self.server_procs = [psutil.Process(s.process.pid) for s in self.servers]  # type: ignore[union-attr]
            # Tokens are dealt round-robin over the instances, and within one over its projects
            # (at least one project per instance).
            per_instance = [max_n // instances + (i < max_n % instances) for i in range(instances)]
            pairs = [
                create_environments(server, count, max(1, projects // instances + (i < projects % instances)))
                for i, (server, count) in enumerate(zip(self.servers, per_instance))
            ]
            self.targets: list[tuple[str | None, str, str]] = []
            for k in range(max_n):
                i = k % instances
                self.targets.append((self.instance_name(i), *pairs[i][k // instances]))
            # Project and stack names of the same length as ours, so URNs are the same size.
            programs = {
                "ours": (REPO, "bench-ours", "gorules-tokens", TOKEN_STACK_FILES),
                "baseline": (REPO / "tests" / "programs" / "noop", "bench-noop", "noop", None),
                "same_state": (SAME_STATE_PROGRAM, "bench-same", "same-state-ref", None),
            }
            self.stacks = {kind: self._stack(kind, program, name, project, only=only)
                           for kind, (program, name, project, only) in programs.items() if kind in kinds}
        except BaseException:
            self.close()
            raise

    @staticmethod
    def instance_name(index: int) -> str | None:
        return None if index == 0 else f"i{index}"

    def env(self, extra: dict[str, str | None] | None = None) -> dict[str, str]:
        env = {**os.environ, **self.engine.env()}
        env.pop("PULUMI_CONFIG_PASSPHRASE_FILE", None)
        for key, value in (extra or {}).items():
            if value is None:
                env.pop(key, None)  # None removes a variable
            else:
                env[key] = value
        return env

    def cli(self, stack_work: Path, *args: str) -> str:
        out = subprocess.run(
            [str(self.bin_dir / "pulumi"), *args, "--non-interactive"],
            cwd=stack_work, env=self.env(), capture_output=True, text=True, timeout=600,
        )
        if out.returncode != 0:
            raise BenchError(f"pulumi {' '.join(args)} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
        return out.stdout

    def _stack(self, kind: str, program: Path, name: str, project: str, only=None) -> Stack:  # type: ignore[no-untyped-def]
        work = prepare_workspace(program, self.root / f"ws-{kind}", only=only)
        self.cli(work, "stack", "init", name)
        if kind in LISTED_KINDS:
            default, *named = self.servers
            self.cli(work, "config", "set", "--stack", name, "gorules:apiUrl", default.url)
            self.cli(work, "config", "set", "--stack", name, "--secret", "gorules:token", default.pat)
            for i, server in enumerate(named, start=1):
                key = f"gorules:instances.{self.instance_name(i)}"
                self.cli(work, "config", "set", "--stack", name, "--path", f"{key}.apiUrl", server.url)
                self.cli(work, "config", "set", "--stack", name, "--path", "--secret", f"{key}.token", server.pat)
        return Stack(kind, work, name, project, self)

    def close(self) -> None:
        for server in self.servers:
            server.stop()

    def run_op(
        self, stack: Stack, op: str, *, env_extra: dict[str, str | None] | None = None, tag: str = "",
        extra_args: tuple[str, ...] = (),
    ) -> dict[str, Any]:
        self.counter += 1
        for server in self.servers:
            server.reset_metrics()
        server_cpu0 = sum(sum(p.cpu_times()[:2]) for p in self.server_procs)
        log_path = self.logs / f"{self.counter:04d}-{stack.kind}-n{stack.n}-{op}{tag}.log"
        mono0 = time.monotonic()
        res = run_measured(
            [str(self.bin_dir / "pulumi"), *stack.op_args(op, extra_args)],
            cwd=stack.work, env=self.env(env_extra), log_path=log_path,
        )
        server_cpu = sum(sum(p.cpu_times()[:2]) for p in self.server_procs) - server_cpu0
        text = log_path.read_text(errors="replace")
        if res.returncode != 0:
            raise BenchError(f"{stack.kind} N={stack.n} {op} exited {res.returncode}; log {log_path}:\n{text[-4000:]}")
        metrics = merge_metrics([server.metrics() for server in self.servers])
        conns = metrics["connections"]
        return {
            "kind": stack.kind,
            "n": stack.n,
            "op": op,
            "wall_s": round(res.wall, 4),
            "cpu_s": round(res.cpu, 3),
            "cpu_user_s": round(res.cpu_user, 3),
            "cpu_system_s": round(res.cpu_system, 3),
            "peak_tree_rss": res.peak_tree_rss,
            "max_single_rss": res.max_single_rss,
            "samples": res.samples,
            "components": res.components,
            "server_cpu_s": round(server_cpu, 3),
            "requests": metrics["requests"]["total"],
            "routes": route_counts(metrics),
            "connections_opened": conns["opened"],
            "requests_on_new_connections": conns["requestsOnNewConnections"],
            "requests_on_reused_connections": conns["requestsOnReusedConnections"],
            "summary": summary(text),
            "load": load(),
            "mono_start": round(mono0, 3),
            "log": log_path.name,
        }

    def expect(self, stack: Stack, op: str, rec: dict[str, Any]) -> list[str]:
        """Sanity checks (recorded, never fatal): the operation did what it should."""
        n, s, problems = stack.n, rec["summary"], []
        want = {
            "up": ("created", n + 1),
            "rotate": ("replaced", n),
            "destroy": ("deleted", n + 1),
            "preview": ("unchanged", n + 1),
            "refresh": ("unchanged", n + 1),
        }[op]
        if s.get(want[0]) != want[1]:
            problems.append(f"expected {want[1]} {want[0]}, got {s}")
        if stack.kind == "ours":
            regen = sum(v for k, v in rec["routes"].items() if "regenerate-token" in k)
            lists = sum(v for k, v in rec["routes"].items() if k.startswith("GET /api/projects/{projectId}/environments "))
            if op in ("up", "rotate") and regen != n:
                problems.append(f"expected {n} regenerate requests, got {regen}")
            if op in ("preview", "destroy") and rec["requests"] != 0:
                problems.append(f"expected 0 requests, got {rec['requests']}")
            projects = len({(instance, project) for instance, project, _ in self.targets[:n]})
            if op == "refresh" and lists > projects:
                problems.append(f"expected at most {projects} list request(s) (1 per project), got {lists}")
        elif rec["requests"]:
            problems.append(f"{stack.kind} made {rec['requests']} BRMS requests")
        return problems

    def measure(
        self, sizes: list[int], repeats: dict[int, int], out: list[dict[str, Any]], sizes_out: dict,
        rotate_max: int | None = None,
    ) -> None:
        version = 0
        for n in sizes:
            reps = repeats[n]
            # A rotation of N costs about N² checkpoint bytes: above rotate_max it is left out.
            ops = [op for op in OPS if op != "rotate" or rotate_max is None or n <= rotate_max]
            log(f"N={n}: {reps} repeat(s), load {load()}")
            for rep in range(reps):
                kinds = tuple(k for k in KINDS if k in self.stacks)
                order = [self.stacks[k] for k in (kinds if rep % 2 == 0 else kinds[::-1])]
                for op in ops:
                    for stack in order:
                        if op in ("up", "rotate"):
                            version += 1
                            stack.configure(n, f"r{version}", keepers="rotate" in ops)
                        rec = self.run_op(stack, op)
                        rec["rep"] = rep
                        rec["first"] = stack is order[0]
                        rec["problems"] = self.expect(stack, op, rec)
                        out.append(rec)
                        flag = " !! " + "; ".join(rec["problems"]) if rec["problems"] else ""
                        log(
                            f"N={n} rep={rep} {op:8s} {stack.kind:8s} {rec['wall_s']:7.2f}s "
                            f"cpu {rec['cpu_s']:6.2f}s rss {rec['peak_tree_rss'] / 2**20:6.0f}MiB "
                            f"req {rec['requests']:4d} conn {rec['connections_opened']}{flag}"
                        )
                        if op == "up" and rep == 0:
                            sizes_out.setdefault(str(n), {})[stack.kind] = state_sizes(stack)

    # -- profiling ---------------------------------------------------------------------

    def profile(
        self, n: int, profile_dir: Path, only: tuple[str, ...] = OPS, modes: tuple[str, ...] = PROFILE_MODES,
    ) -> dict[str, Any]:
        """Where the time goes, at N=n. Not part of the timed comparison.

        * `spans`: a `pulumi-resource-pulumi-python` script placed first on PATH (ambient
          plugins allowed) launches bench/provider_profiled.py instead of
          `python -m pulumi.dynamic`; it records every gRPC call and HTTP request with
          timestamps (low overhead). Both stacks, every operation.
        * `cprofile`: the same plus cProfile of every thread of the provider process, and the
          program's `__main__.py` swapped for a wrapper that cProfiles the program process.
        * `cli`: `pulumi --profiling`, the Go CPU profile of the CLI (engine + backend),
          summarised with `go tool pprof` when Go is installed.
        * `skip-checkpoints`: PULUMI_SKIP_CHECKPOINTS=true (the engine writes the state once at
          the end instead of after every step), to size the checkpointing share of the time.
        """
        wrap_dir = self.root / "profile-wrapper"
        wrap_dir.mkdir(exist_ok=True)
        script = wrap_dir / "pulumi-resource-pulumi-python"
        python = REPO / ".venv" / "bin" / "python"
        script.write_text(
            "#!/bin/sh\n# bench: profiled Python dynamic provider (see bench/provider_profiled.py)\n"
            f'exec "{python}" -u "{BENCH / "provider_profiled.py"}" "$@"\n'
        )
        script.chmod(0o755)
        result: dict[str, Any] = {"n": n, "runs": []}
        version = 10_000
        plans = [
            ("spans", OPS),
            ("cprofile", OPS),
            ("cli", ("up", "refresh", "rotate", "destroy")),
            ("skip-checkpoints", ("up", "rotate", "destroy")),
        ]
        for mode, ops in plans:
            if mode not in modes:
                continue
            # `up` must run first (the stacks are empty) and `destroy` last; `only` picks the rest.
            ops = tuple(op for op in ops if op in only or op in ("up", "destroy"))
            for kind, stack in self.stacks.items():
                if mode == "cprofile":
                    self._swap_main(stack, profiled=True)
                try:
                    for op in ops:
                        if op in ("up", "rotate"):
                            version += 1
                            stack.configure(n, f"p{version}")
                        op_dir = profile_dir / f"{mode}-{kind}-{op}"
                        op_dir.mkdir(parents=True, exist_ok=True)
                        extra: dict[str, str | None] = {}
                        args: tuple[str, ...] = ()
                        if mode in ("spans", "cprofile"):
                            extra = {
                                "PATH": f"{wrap_dir}{os.pathsep}{self.env()['PATH']}",
                                "BENCH_PROFILE_DIR": str(op_dir),
                                "BENCH_PROFILE_MODE": "cprofile" if mode == "cprofile" else "spans",
                                "PULUMI_IGNORE_AMBIENT_PLUGINS": None,
                            }
                        elif mode == "cli":
                            args = ("--profiling", str(op_dir / "cli"))
                        else:
                            extra = {"PULUMI_SKIP_CHECKPOINTS": "true"}
                        rec = self.run_op(stack, op, env_extra=extra, extra_args=args, tag=f"-{mode}")
                        rec["mode"] = mode
                        self._collect(rec, mode, kind, op, op_dir)
                        result["runs"].append(rec)
                finally:
                    if mode == "cprofile":
                        self._swap_main(stack, profiled=False)
        return result

    def _swap_main(self, stack: Stack, *, profiled: bool) -> None:
        """Replaces the workspace's `__main__.py` symlink by a cProfile wrapper, and back."""
        link = stack.work / "__main__.py"
        program = {"ours": REPO, "baseline": REPO / "tests" / "programs" / "noop", "same_state": SAME_STATE_PROGRAM}
        real = program[stack.kind] / "__main__.py"
        link.unlink()
        if not profiled:
            link.symlink_to(real)
            return
        link.write_text(
            "# bench: cProfile wrapper around the real program (profiling pass only)\n"
            "import os, runpy, sys\n"
            f"sys.path.append({str(BENCH)!r})\n"
            "import threadprof\n"
            'threadprof.install(os.path.join(os.environ["BENCH_PROFILE_DIR"], f"program-{os.getpid()}.prof"))\n'
            f"runpy.run_path({str(real)!r}, run_name='__main__')\n"
        )

    def _collect(self, rec: dict[str, Any], mode: str, kind: str, op: str, op_dir: Path) -> None:
        label = f"profile[{mode}] {kind} N={rec['n']} {op}: wall {rec['wall_s']:.2f}s"
        if mode in ("spans", "cprofile"):
            files = sorted(op_dir.glob("provider-*.json"))
            if not files:
                raise BenchError(f"the profiled provider was not used for {kind} {op} (nothing in {op_dir})")
            rec["provider_processes"] = len(files)
            rec["provider"] = analyse_spans(merge_spans([json.loads(f.read_text()) for f in files]), rec["mono_start"])
            label += f", provider busy {rec['provider']['rpc_busy_s']:.2f}s, http {rec['provider']['http_busy_s']:.2f}s"
        if mode == "cprofile":
            rec["cprofile"] = {}
            for role in ("provider", "program"):
                profs = sorted(op_dir.glob(f"{role}-*.prof"))
                if profs:
                    rec["cprofile"][role] = cprofile_summary(profs[0])
                    label += f", {role} cProfile {rec['cprofile'][role]['total_s']:.2f}s"
        if mode == "cli":
            cpus = sorted(op_dir.glob("cli.*.cpu"))
            if cpus:
                rec["pprof"] = pprof_summary(self.bin_dir / "pulumi", cpus[0])
                if rec["pprof"].get("total_s"):
                    snap = rec["pprof"]["functions"].get("saveSnapshot", 0.0)
                    label += f", CLI CPU samples {rec['pprof']['total_s']:.2f}s (saveSnapshot {snap:.2f}s)"
        log(label)


def merge_spans(spans: list[dict[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {"rpcs": [], "http": [], "marks": {}}
    for data in spans:
        merged["rpcs"] += data["rpcs"]
        merged["http"] += data["http"]
        for key, value in data["marks"].items():
            merged["marks"][key] = min(value, merged["marks"].get(key, value))
    return merged


def union_seconds(spans: list[tuple[float, float]]) -> float:
    total, end = 0.0, float("-inf")
    for s, e in sorted(spans):
        if e <= end:
            continue
        total += e - max(s, end)
        end = e
    return total


def analyse_spans(data: dict[str, Any], t0: float) -> dict[str, Any]:
    rpcs, http, marks = data["rpcs"], data["http"], data["marks"]
    by_method: dict[str, dict[str, float]] = {}
    for r in rpcs:
        m = by_method.setdefault(r["method"], {"count": 0, "sum_s": 0.0, "max_s": 0.0})
        d = r["end"] - r["start"]
        m["count"] += 1
        m["sum_s"] = round(m["sum_s"] + d, 4)
        m["max_s"] = round(max(m["max_s"], d), 4)
    http_by: dict[str, dict[str, float]] = {}
    for h in http:
        path = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "{id}", h["path"])
        k = f"{h['method']} {path} {h['status']}"
        m = http_by.setdefault(k, {"count": 0, "sum_s": 0.0, "max_s": 0.0})
        d = h["end"] - h["start"]
        m["count"] += 1
        m["sum_s"] = round(m["sum_s"] + d, 4)
        m["max_s"] = round(max(m["max_s"], d), 4)
    rel = {k: round(v - t0, 3) for k, v in marks.items()}
    if rpcs:
        rel["first_rpc"] = round(min(r["start"] for r in rpcs) - t0, 3)
        rel["last_rpc_end"] = round(max(r["end"] for r in rpcs) - t0, 3)
    return {
        "marks_rel_s": rel,
        "rpc_busy_s": round(union_seconds([(r["start"], r["end"]) for r in rpcs]), 3),
        "rpc_sum_s": round(sum(r["end"] - r["start"] for r in rpcs), 3),
        "rpc_by_method": by_method,
        "http_busy_s": round(union_seconds([(h["start"], h["end"]) for h in http]), 3),
        "http_sum_s": round(sum(h["end"] - h["start"] for h in http), 3),
        "http_by_route": http_by,
        "threads": len({r["thread"] for r in rpcs}),
    }


def main(argv: list[str] | None = None) -> int:
    # A job started in the background by a non-interactive shell inherits SIGINT as ignored,
    # and so would every process of the Pulumi tree. The engine stops the language host with
    # SIGINT and waits 5 s before killing it, which added 5 s to every up/preview. Restoring a
    # handler here makes children start with the default disposition again (and lets Ctrl-C or
    # `kill -INT` stop the benchmark cleanly).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke run: N=1,10, one repeat, no profiling")
    parser.add_argument("--sizes", default="1,10,100,300", help="comma-separated N values")
    parser.add_argument("--repeats", default="", help="N:R pairs, e.g. 1:5,10:5,100:3,300:1")
    parser.add_argument("--profile-n", type=int, default=100, help="N of the profiling pass (0: skip)")
    parser.add_argument("--out", default="", help="results JSON (default bench/results/<timestamp>.json)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, state)")
    parser.add_argument("--profiles-dir", default="", help="copy raw .prof/.cpu profiles here")
    parser.add_argument("--no-report", action="store_true", help="do not print tables or write the plot")
    parser.add_argument("--projects", type=int, default=1, help="spread the tokens over this many projects")
    parser.add_argument("--instances", type=int, default=1,
                        help="spread the tokens over this many BRMS instances (one localbrms each)")
    parser.add_argument("--environments-file", action="store_true",
                        help="feed the environments list to the program from a file, not the stack config")
    parser.add_argument("--rotate-max", type=int, default=0, help="rotate only at N up to this (0: every N)")
    parser.add_argument("--kinds", default=",".join(KINDS),
                        help="stacks to measure: ours, baseline (6-value no-op), same_state (ours' state, no work)")
    parser.add_argument("--profile-ops", default=",".join(OPS),
                        help="operations of the profiling pass (up and destroy always run)")
    parser.add_argument("--profile-modes", default=",".join(PROFILE_MODES),
                        help="modes of the profiling pass (spans, cprofile, cli, skip-checkpoints)")
    args = parser.parse_args(argv)
    kinds = tuple(k for k in args.kinds.split(",") if k)
    if not kinds or set(kinds) - set(KINDS):
        parser.error(f"--kinds: choose from {', '.join(KINDS)}")
    modes = tuple(m for m in args.profile_modes.split(",") if m)
    if set(modes) - set(PROFILE_MODES):
        parser.error(f"--profile-modes: choose from {', '.join(PROFILE_MODES)}")

    if args.quick:
        sizes, repeats, profile_n = [1, 10], {1: 1, 10: 1}, 0
    else:
        sizes = [int(x) for x in args.sizes.split(",") if x]
        repeats = {n: DEFAULT_REPEATS.get(n, 3) for n in sizes}
        profile_n = args.profile_n
    for pair in filter(None, args.repeats.split(",")):
        n_s, r_s = pair.split(":")
        repeats[int(n_s)] = int(r_s)

    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out_path = Path(args.out) if args.out else BENCH / "results" / f"{'quick-' if args.quick else ''}{stamp}.json"
    out_path.parent.mkdir(parents=True, exist_ok=True)

    root = Path(tempfile.mkdtemp(prefix="gorules-bench-"))
    log(f"work dir {root}")
    started = time.monotonic()
    bench = None
    runs: list[dict[str, Any]] = []
    sizes_out: dict[str, Any] = {}
    doc: dict[str, Any] = {}
    try:
        bench = Bench(root, max(sizes + [profile_n]), projects=args.projects, instances=args.instances,
                      environments_file=args.environments_file, kinds=kinds)
        doc = {
            "started": stamp,
            "quick": args.quick,
            "machine": machine_info(bench.bin_dir),
            "load_before": load(),
            "sizes": sizes,
            "repeats": {str(k): v for k, v in repeats.items()},
            "layout": {"projects": args.projects, "instances": args.instances, "rotate_max": args.rotate_max,
                       "environments_file": args.environments_file, "kinds": list(kinds)},
            "method": {
                "cli": "pulumi <op> --non-interactive; up/rotate/refresh/destroy with --yes --skip-preview; "
                "preview with --expect-no-changes",
                "wall": "spawn to reap of the pulumi CLI process",
                "cpu": "user+system of the whole tree (os.wait4 rusage: CLI + every descendant it reaped)",
                "peak_tree_rss": "max over 50 ms samples of the sum of RSS of the CLI and all its descendants",
                "max_single_rss": "ru_maxrss from wait4: the largest single process of the tree",
                "requests": "localbrms /_localbrms/metrics, reset before each operation",
                "order": "per operation ours/baseline alternate; the first of the pair alternates per repeat",
            },
        }
        # Warm-up (not recorded): first-run costs such as .pyc compilation and plugin lookup.
        log("warm-up")
        for stack in bench.stacks.values():
            stack.configure(1, "warmup")
            bench.run_op(stack, "up", tag="-warmup")
            bench.run_op(stack, "destroy", tag="-warmup")
        bench.measure(sizes, repeats, runs, sizes_out, rotate_max=args.rotate_max or None)
        doc["runs"] = runs
        doc["state_sizes"] = sizes_out
        if profile_n:
            log(f"profiling pass, N={profile_n}")
            only = tuple(op for op in args.profile_ops.split(",") if op)
            doc["profile"] = bench.profile(profile_n, root / "profiles", only, modes)
            if args.profiles_dir:
                # Raw profiles: *.prof (pstats/snakeviz) and cli.*.cpu (go tool pprof).
                dest = Path(args.profiles_dir)
                dest.mkdir(parents=True, exist_ok=True)
                for f in sorted((root / "profiles").glob("*/*")):
                    if f.suffix in (".prof", ".cpu"):
                        shutil.copy(f, dest / f"{f.parent.name}-{f.name}")
                log(f"raw profiles copied to {dest}")
        doc["load_after"] = load()
        doc["duration_s"] = round(time.monotonic() - started, 1)
    finally:
        if bench is not None:
            bench.close()
        if doc:
            doc.setdefault("runs", runs)
            doc.setdefault("state_sizes", sizes_out)
            out_path.write_text(dump_results(doc))
            log(f"results written to {out_path}")
        if args.keep:
            log(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    if not args.no_report:
        import report

        report.main([str(out_path)] + (["--no-plot"] if args.quick else []))
    return 0


# Functions where a thread waits rather than works; left out of "busy" totals.
_WAITS = ("acquire' of '_thread.lock", "grpc/_channel.py:1119(_blocking)", "next_event' of", "get' of '_queue.SimpleQueue", "select.epoll", "poll' of",
          "time.sleep", "_serve)", "threading.py", "wait_for_termination", "_thread.start_new_thread",
          "builtins.input", "method 'recv", "_run_once", "futures/thread.py:69(_worker)")
_BUCKETS = {
    "imports": ("_find_and_load)",),
    "provider.check": ("provider/gorules_tokens/provider.py", "(check)"),
    "provider.diff": ("provider/gorules_tokens/provider.py", "(diff)"),
    "provider.create": ("provider/gorules_tokens/provider.py", "(create)"),
    "provider.read": ("provider/gorules_tokens/provider.py", "(read)"),
    "provider.delete": ("provider/gorules_tokens/provider.py", "(delete)"),
    "httpx.Client.send": ("httpx/_client.py", "(send)"),
    "dill.loads (unpickle provider)": ("dill/_dill.py", "(loads)"),
    "rpc.serialize_properties": ("pulumi/runtime/rpc.py", "(serialize_properties)"),
    "rpc.deserialize_properties": ("pulumi/runtime/rpc.py", "(deserialize_properties)"),
    "pydantic validate": ("pydantic/main.py", "(model_validate)"),
    "Resource.__init__ (program)": ("pulumi/resource.py", "(__init__)"),
    "register_resource (program)": ("pulumi/runtime/resource.py", "(register_resource)"),
    "tokenstack.program.run": ("tokenstack/program.py", "(run)"),
}


def dump_results(doc: dict[str, Any]) -> str:
    """Compact JSON with one line per run, so results stay small and diff well."""

    def compact(value: Any) -> str:
        return json.dumps(value, separators=(",", ":"))

    def lines(runs: list[dict[str, Any]]) -> str:
        return "[\n" + ",\n".join(compact(r) for r in runs) + "\n]"

    parts = []
    for key, value in doc.items():
        if key == "runs":
            text = lines(value)
        elif key == "profile" and isinstance(value, dict):
            text = "{" + ",".join(
                f"{compact(k)}:{lines(v) if k == 'runs' else compact(v)}" for k, v in value.items()
            ) + "}"
        else:
            text = compact(value)
        parts.append(f"{compact(key)}:{text}")
    return "{\n" + ",\n".join(parts) + "\n}\n"


def cprofile_summary(path: Path, limit: int = 10) -> dict[str, Any]:
    """Busy time (own time outside waits), named buckets (cumulative) and top functions."""
    import pstats

    stats = pstats.Stats(str(path))
    rows = []
    for (file, line, func), (_cc, nc, tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        name = f"{shorten(file)}:{line}({func})"
        rows.append({"function": name, "calls": nc, "own_s": round(tt, 4), "cum_s": round(ct, 4),
                     "wait": any(w in name for w in _WAITS)})
    busy = [r for r in rows if not r["wait"]]
    buckets: dict[str, dict[str, float]] = {}
    for label, parts in _BUCKETS.items():
        hits = [r for r in rows if all(p in r["function"] for p in parts)]
        if hits:
            best = max(hits, key=lambda r: r["cum_s"])
            buckets[label] = {"cum_s": best["cum_s"], "calls": best["calls"]}
    strip = lambda r: {k: v for k, v in r.items() if k != "wait"}  # noqa: E731
    return {
        "total_s": round(sum(r["own_s"] for r in busy), 3),
        "buckets": buckets,
        "by_own": [strip(r) for r in sorted(busy, key=lambda r: -r["own_s"])[:limit]],
        "by_cumulative": [strip(r) for r in sorted(busy, key=lambda r: -r["cum_s"])[:limit]],
    }


_PPROF_FUNCS = {
    "saveSnapshot": "backend.(*SnapshotManager).saveSnapshot",
    "diy.saveStack (write checkpoint)": "diy.(*diyBackend).saveStack",
    "json marshal of the checkpoint": "diy.compactJSONMarshaler.Marshal",
    "md5 of written blobs": "crypto/md5.(*digest).Write",
    "backup copy (.bak)": "diy.backupTarget",
    "SnapshotManager.Deployment (serialize)": "backend.(*SnapshotManager).Deployment",
    "VerifyIntegrity": "snapshot.VerifyIntegrity",
    "secret batch encryption": "stack.(*cachingBatchEncrypter).sendNextBatch",
    "passphrase key derivation": "passphrase.symmetricCrypterFromPhraseAndState",
    "GC": "runtime.gcBgMarkWorker",
}
_DURATION = re.compile(r"^([\d.]+)(ns|us|µs|ms|s|min|h)$")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "min": 60.0, "h": 3600.0}


def _seconds(text: str) -> float:
    m = _DURATION.match(text.strip())
    return float(m.group(1)) * _UNITS[m.group(2)] if m else 0.0


def pprof_summary(binary: Path, cpu_file: Path) -> dict[str, Any]:
    """CPU seconds of the CLI (Go) in the functions that matter, from `go tool pprof -top -cum`."""
    go = shutil.which("go")
    if go is None:
        return {"error": "go not installed; open the profile with `go tool pprof`"}
    try:
        out = subprocess.run(
            [go, "tool", "pprof", "-top", "-cum", "-nodecount=5000", str(binary), str(cpu_file)],
            capture_output=True, text=True, timeout=600,
        )
    except subprocess.TimeoutExpired:
        # A loaded machine must not cost the measurements already made; the raw profile stays.
        return {"error": f"go tool pprof timed out on {cpu_file.name}"}
    total = re.search(r"Total samples = ([\d.]+\w+)", out.stdout)
    result: dict[str, Any] = {"total_s": _seconds(total.group(1)) if total else 0.0, "functions": {}}
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) < 6 or not _DURATION.match(parts[3]):
            continue
        name = " ".join(parts[5:])
        for label, needle in _PPROF_FUNCS.items():
            if name.endswith(needle) and label not in result["functions"]:
                result["functions"][label] = round(_seconds(parts[3]), 3)
    return result


def shorten(file: str) -> str:
    for marker in ("site-packages/", "/lib/python3", str(REPO) + "/"):
        if marker in file:
            return file.split(marker, 1)[1]
    return file


if __name__ == "__main__":
    raise SystemExit(main())

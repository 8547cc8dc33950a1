"""Rollout benchmark: how long the apps are down while `gorules-tokens rollout` rotates a token
and hands it to 1, 4 or 16 consumer stacks, against the rollout's own wall time and window.

Setup, on a throw-away `file://` backend with a localbrms on 127.0.0.1 (tests/support harness):
one *fleet* per consumer count C: its own seeded BRMS project, a token stack of the repo's
program (`staging`, a `brms` environment rotated by a `keepers` change, and `production`, which
nobody rotates) and C consumer stacks of `examples/consumer/` declared in its
`gorules-tokens:consumers`, each using `staging` and writing its own app config file. An
untimed first rollout creates the tokens and brings every consumer current.

One measured run: change `keepers.rotation`, start one `AppLoop` per consumer (an evaluate every
100 ms with the token its config file holds), wait until every app answers 200, run
`gorules-tokens rollout --parallel K --json FILE` as a user runs it (its console script), time
stamp each progress line it prints, wait until every app answers 200 again, stop the apps.
Recorded: wall time of the command, the report's window and per-consumer seconds, each app's
outage (first failing call -> first succeeding one), phase times from the progress lines and the
report's `rotatedAt`, and the load average. Repeats interleave the fleets (order rotated each
repeat) so a load swing on the shared machine hits every consumer count alike.

Not a test: it asserts no timing and CI never runs it. It fails only if a rollout fails or an
app never recovers. `bench/rollout_report.py` turns the JSON into tables and a plot.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import shutil
import signal
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path[:0] = [str(BENCH), str(REPO), str(REPO / "tests"), str(REPO / "examples" / "consumer")]

from app_loop import AppLoop  # noqa: E402
from gorules_tokens_localbrms.testing import LocalBRMSServer  # noqa: E402
from support.brms import TokenStack, config_entry, new_token_stack  # noqa: E402
from support.engine import EngineEnv, pulumi_bin_dir  # noqa: E402
from support.rollout import ConsumerStack, declare_consumers, gorules_tokens, gorules_tokens_command, \
    new_consumer  # noqa: E402

ROTATED = "staging"
STEADY = "production"
SETTLE_TIMEOUT_S = 120.0


def log(msg: str) -> None:
    print(f"[rollout-bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class BenchError(RuntimeError):
    pass


def load() -> dict[str, Any]:
    return {"loadavg": [round(x, 2) for x in os.getloadavg()],
            "uptime": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()}


@dataclass
class Fleet:
    """A token stack and its C consumers, on a BRMS project of their own."""

    count: int
    seed: dict[str, Any]
    token: TokenStack
    consumers: list[ConsumerStack]
    rotation: int = 0

    def configure(self) -> None:
        self.token.configure([config_entry(self.seed, ROTATED, keepers={"rotation": str(self.rotation)}),
                              config_entry(self.seed, STEADY)])


def new_fleet(engine: EngineEnv, brms: LocalBRMSServer, root: Path, count: int) -> Fleet:
    folder = root / f"fleet-{count}"
    seed = brms.seed(project_key=f"rollout-bench-{count}")
    token = new_token_stack(engine, brms, folder, [], stack_name=f"c{count}")
    consumers = [new_consumer(engine, token, seed, folder / f"consumer-{i:02d}", f"c{count}-app-{i:02d}", ROTATED)
                 for i in range(count)]
    declare_consumers(token, [{"dir": f"../consumer-{i:02d}", "stack": c.stack.name, "uses": [ROTATED]}
                              for i, c in enumerate(consumers)])
    fleet = Fleet(count, seed, token, consumers)
    fleet.configure()
    first = gorules_tokens(engine, token, "rollout", "--parallel", "4", timeout=1800)
    if first.code != 0:
        raise BenchError(f"first rollout of fleet {count} failed:\n{first.output}")
    return fleet


# -- one measured rollout ----------------------------------------------------------------------


def _wait_all_up(loops: list[AppLoop], since: float, timeout: float) -> None:
    """Until every app's last call (made after `since`) answered 200."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if all(loop.calls and loop.calls[-1][0] > since and loop.calls[-1][1] == 200 for loop in loops):
            return
        time.sleep(0.05)
    down = [i for i, loop in enumerate(loops) if not loop.calls or loop.calls[-1][1] != 200]
    raise BenchError(f"apps {down} still failing {timeout:.0f} s after the rollout")


def _stream(argv: list[str], env: dict[str, str],
            on_line: Optional[Any] = None) -> tuple[int, list[tuple[float, str]]]:
    """Runs the command, time-stamping each line it prints (stdout and stderr merged)."""
    lines: list[tuple[float, str]] = []
    with subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          bufsize=1) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append((time.time(), line.rstrip("\n")))
            if on_line:
                on_line(line)
        code = proc.wait()
    return code, lines


def _rss_under(folders: list[Path]) -> dict[str, int]:
    """Resident memory (KiB) of the processes running in each folder (a consumer's pulumi CLI,
    language host and program all run in its project folder), by folder."""
    found = {str(f.resolve()): 0 for f in folders}
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cwd = str((proc / "cwd").resolve())
            rss = next(int(line.split()[1]) for line in (proc / "status").read_text().splitlines()
                       if line.startswith("VmRSS:"))
        except (OSError, StopIteration, ValueError):
            continue
        if cwd in found:
            found[cwd] += rss
    return found


def waiting_memory(engine: EngineEnv, brms: LocalBRMSServer, fleet: Fleet, out_dir: Path, hold_s: float = 12.0,
                   ) -> dict[str, Any]:
    """Memory of consumers waiting at the hand-off: the regenerate is held `hold_s` seconds by a
    localbrms delay, and the consumers' processes are measured while they all wait."""
    from gorules_tokens_localbrms import testing

    fleet.rotation += 1
    fleet.configure()
    brms.add_fault(method="POST", route=testing.REGENERATE_ROUTE, delay_ms=int(hold_s * 1000), times=1)
    argv, env = gorules_tokens_command(engine, fleet.token, "rollout", "--prestart", str(fleet.count),
                                       json_file=out_dir / f"memory-{fleet.count}.json")
    samples: list[dict[str, int]] = []
    seen: dict[str, float] = {}

    def on_line(line: str) -> None:
        if f"token stack {fleet.token.stack.name}: up (" in line:
            seen["up"] = time.time()

    import threading

    def sample() -> None:
        while "up" not in seen:
            time.sleep(0.1)
        time.sleep(hold_s * 0.7)
        samples.append(_rss_under([c.work_dir for c in fleet.consumers]))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    code, lines = _stream(argv, env, on_line)
    sampler.join(hold_s * 2)
    brms.clear_faults()
    if code != 0 or not samples:
        raise BenchError(f"memory run exited {code}:\n" + "\n".join(line for _, line in lines))
    per = sorted(samples[0].values())
    return {"consumers": fleet.count, "rss_kib_per_waiting_consumer": per,
            "rss_mib_median": round(statistics.median(per) / 1024, 1), "rss_mib_total": round(sum(per) / 1024, 1)}


def _first(lines: list[tuple[float, str]], *parts: str) -> Optional[float]:
    return next((t for t, line in lines if all(p in line for p in parts)), None)


def _consumer_marks(lines: list[tuple[float, str]], label: str) -> dict[str, Optional[float]]:
    return {"started": _first(lines, f"consumer {label}: started"),
            "done": _first(lines, f"consumer {label}: updated in")}


def _outage(loop: AppLoop, since: float) -> dict[str, Any]:
    """The app's outage during this run: from its first failing call to its last recovery (a
    flap in between would count as one longer outage, and is reported as `outages` > 1)."""
    found = [o for o in loop.outages() if o.started >= since]
    if not found:
        return {"seconds": 0.0, "outages": 0, "failed_calls": 0, "started": None, "ended": None}
    if found[-1].ended is None:
        raise BenchError("an app was still down when the run ended")
    return {"seconds": round(found[-1].ended - found[0].started, 3), "outages": len(found),
            "failed_calls": sum(o.failed_calls for o in found), "started": found[0].started,
            "ended": found[-1].ended, "calls": sum(1 for t, _ in loop.calls if t >= since)}


def _ts(iso: Optional[str]) -> Optional[float]:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() if iso else None


def measure(engine: EngineEnv, fleet: Fleet, parallel: int, out_dir: Path, tag: str,
            prestart: int = 16) -> dict[str, Any]:
    fleet.rotation += 1
    fleet.configure()
    report_file = out_dir / f"report-{tag}.json"
    argv, env = gorules_tokens_command(engine, fleet.token, "rollout", "--parallel", str(parallel),
                                       "--prestart", str(prestart), json_file=report_file)
    with ExitStack() as apps:
        loops = [apps.enter_context(AppLoop(c.app_config)) for c in fleet.consumers]
        _wait_all_up(loops, time.time(), 30)
        time.sleep(0.3)
        before = load()
        started = time.time()
        code, lines = _stream(argv, env)
        ended = time.time()
        _wait_all_up(loops, ended, SETTLE_TIMEOUT_S)
        after = load()
    output = "\n".join(line for _, line in lines)
    report = json.loads(report_file.read_text()) if report_file.exists() else None
    if code != 0 or report is None:
        raise BenchError(f"rollout (fleet {fleet.count}, --parallel {parallel}) exited {code}:\n{output}")
    [rotated] = [t for t in report["rotated"] if t["entry"] == ROTATED]
    regenerated = _ts(rotated["rotatedAt"])
    ts_name = fleet.token.stack.name
    token_up = _first(lines, f"token stack {ts_name}: up (")
    token_done = _first(lines, f"token stack {ts_name}: updated in")
    by_label = {c["label"]: c for c in report["consumers"]}
    apps_seen = []
    for consumer, loop in zip(fleet.consumers, loops):
        label = f"../{consumer.work_dir.name}:{consumer.stack.name}"
        row = by_label[label]
        marks = _consumer_marks(lines, label)
        outage = _outage(loop, started)
        apps_seen.append({
            "consumer": label, "outcome": row["outcome"], "up_seconds": row["seconds"], **outage,
            # Times relative to the command's start, for the phase breakdown.
            "t_started": _rel(marks["started"], started), "t_done": _rel(marks["done"], started),
            "t_app_down": _rel(outage["started"], started), "t_app_back": _rel(outage["ended"], started),
        })
    outages = [a["seconds"] for a in apps_seen]
    return {
        "consumers": fleet.count, "parallel": parallel, "prestart": prestart, "tag": tag,
        "wall_seconds": round(ended - started, 3),
        "window_seconds": rotated["windowSeconds"],
        "token_stack_seconds": report["tokenStack"]["seconds"],
        "outage_max": max(outages), "outage_median": round(statistics.median(outages), 3),
        "up_max": max(a["up_seconds"] for a in apps_seen),
        "up_median": round(statistics.median(a["up_seconds"] for a in apps_seen), 3),
        "phases": {
            "t_token_up": _rel(token_up, started), "t_regenerate": _rel(regenerated, started),
            "t_token_done": _rel(token_done, started),
        },
        "apps": apps_seen,
        "load_before": before, "load_after": after,
        "lines": [[round(t - started, 3), line] for t, line in lines],
    }


def _rel(moment: Optional[float], origin: float) -> Optional[float]:
    return None if moment is None else round(moment - origin, 3)


# -- driver ------------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/run.sh --rollout", description=__doc__.split("\n\n")[0])
    parser.add_argument("--counts", default="1,4,8,16", help="consumer counts (default 1,4,8,16)")
    parser.add_argument("--parallel", type=int, default=4, help="--parallel of every run (default 4)")
    parser.add_argument("--also", default="16:16",
                        help="extra COUNT:PARALLEL runs per repeat, comma separated ('' for none; default 16:16)")
    parser.add_argument("--prestart", type=int, default=16,
                        help="the rollout's --prestart (default 16; 0: every consumer starts after the token "
                             "stack's up, as before issue 24): run once with each to compare")
    parser.add_argument("--memory", action="store_true",
                        help="also measure the memory of consumers waiting at the hand-off (one held run per count)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="counts 1,4, one repeat, no extra runs")
    parser.add_argument("--out", type=Path, help="results JSON (default bench/results/rollout-<stamp>.json)")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder (stacks, reports, logs)")
    parser.add_argument("--no-report", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.counts, args.repeats, args.also = "1,4", 1, ""
    return args


def plan(args: argparse.Namespace) -> list[tuple[int, int]]:
    runs = [(int(c), args.parallel) for c in args.counts.split(",") if c]
    runs += [(int(c), int(k)) for c, k in (p.split(":") for p in args.also.split(",") if p)]
    return list(dict.fromkeys(runs))


def main(argv: list[str]) -> int:
    # Started in the background by a non-interactive shell (`nohup ... &`), this process and
    # every `pulumi` below it would inherit SIGINT as ignored; the engine stops its plugins
    # with SIGINT and kills them only after 5 s, so each up and preview would take 5 s longer
    # (docs/PERFORMANCE.md, Caveats). bench.py does the same.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    args = parse_args(argv)
    runs = plan(args)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = args.out or BENCH / "results" / f"{'quick-' if args.quick else ''}rollout-{stamp}.json"
    root = Path(tempfile.mkdtemp(prefix="gorules-rollout-bench-"))
    log(f"work folder {root}; runs per repeat {runs}; repeats {args.repeats}; {load()['uptime']}")
    bin_dir = pulumi_bin_dir()
    engine = EngineEnv(bin_dir=bin_dir, home=root / "pulumi-home", backend=root / "backend")
    engine.home.mkdir()
    engine.backend.mkdir()
    results: dict[str, Any] = {"stamp": stamp, "runs": [], "plan": runs, "repeats": args.repeats,
                               "prestart": args.prestart,
                               "machine": machine(bin_dir), "load_start": load(), "sigint": "default"}
    with LocalBRMSServer(root / "brms.db", pat="pat-" + secrets.token_urlsafe(24),
                         log_path=root / "brms.log") as brms:
        fleets: dict[int, Fleet] = {}
        for count in sorted({c for c, _ in runs}):
            log(f"fleet {count}: creating the token stack and {count} consumers, first rollout")
            fleets[count] = new_fleet(engine, brms, root, count)
        for repeat in range(args.repeats):
            shift = repeat % len(runs)
            for count, parallel in runs[shift:] + runs[:shift]:
                tag = f"r{repeat}-c{count}-k{parallel}"
                result = measure(engine, fleets[count], parallel, root, tag, args.prestart)
                result["repeat"] = repeat
                results["runs"].append(result)
                log(f"{tag}: wall {result['wall_seconds']:.1f} s, window {result['window_seconds']} s, "
                    f"app outage max {result['outage_max']:.2f} / median {result['outage_median']:.2f} s, "
                    f"consumer up median {result['up_median']:.1f} s; load {result['load_before']['loadavg']}")
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_text(json.dumps(results, indent=1) + "\n")  # after every run: a crash keeps the rest
        if args.memory:
            results["memory"] = [waiting_memory(engine, brms, fleets[c], root) for c in sorted(fleets)]
            log(f"memory of waiting consumers: {results['memory']}")
    results["load_end"] = load()
    out.write_text(json.dumps(results, indent=1) + "\n")
    log(f"wrote {out}")
    if not args.no_report:
        import rollout_report

        rollout_report.render(out)
    if args.keep:
        log(f"kept {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)
    return 0


def machine(bin_dir: Path) -> dict[str, Any]:
    version = subprocess.run([str(bin_dir / "pulumi"), "version"], capture_output=True, text=True).stdout.strip()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "provider", "examples", "tokenstack"],
                           cwd=REPO, capture_output=True, text=True)
    return {"cores": os.cpu_count(), "python": sys.version.split()[0], "pulumi_cli": version,
            "git_commit": commit.stdout.strip(), "git_dirty": dirty.stdout.splitlines()[:20]}


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

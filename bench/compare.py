"""A/B table from bench result files: the same operations measured on two versions of the code.

    python bench/compare.py --before base-*.json --after perf-*.json [--label-before 0.2.0 --label-after perf]

For every (N, operation) both sides measured: the median over all paired runs of the wall ratio
and of the CPU ratio (ours / the no-op baseline of the same run and repeat), the median wall
and CPU of ours, and the per-process CPU of ours (CLI, program, provider) next to the baseline's.
Then the state bytes after `up`. Ratios, not times, are what compare across runs on a shared
machine: each run pairs ours with a baseline measured right next to it.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

ROLES = ("cli", "program", "provider")


def load_runs(paths: list[Path]) -> list[dict[str, Any]]:
    runs = []
    for path in paths:
        doc = json.loads(path.read_text())
        for run in doc["runs"]:
            run["file"] = path.name
            runs.append(run)
    return runs


def pairs(runs: list[dict[str, Any]]) -> dict[tuple[int, str], list[tuple[dict, dict]]]:
    """(N, op) -> [(ours, baseline)] of the same file and repeat."""
    index: dict[tuple[str, int, str, int], dict[str, dict]] = {}
    for run in runs:
        index.setdefault((run["file"], run["n"], run["op"], run.get("rep", 0)), {})[run["kind"]] = run
    out: dict[tuple[int, str], list[tuple[dict, dict]]] = {}
    for (_file, n, op, _rep), kinds in sorted(index.items()):
        if "ours" in kinds and "baseline" in kinds:
            out.setdefault((n, op), []).append((kinds["ours"], kinds["baseline"]))
    return out


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def role_cpu(run: dict[str, Any], role: str) -> float:
    return float(run.get("components", {}).get(role, {}).get("cpu", 0.0))


def cpu(run: dict[str, Any]) -> float:
    """CPU of the tree: `wait4`'s rusage counts only the processes the CLI reaped (at load 40 a
    provider once escaped it), psutil's samples miss at most each process's last 50 ms; the
    larger of the two."""
    return max(float(run["cpu_s"]), sum(float(c.get("cpu", 0.0)) for c in run.get("components", {}).values()))


def side(paired: list[tuple[dict, dict]]) -> dict[str, float]:
    return {
        "wall_ratio": median([o["wall_s"] / b["wall_s"] for o, b in paired]),
        "cpu_ratio": median([cpu(o) / cpu(b) for o, b in paired]),
        "wall": median([o["wall_s"] for o, _ in paired]),
        "cpu": median([cpu(o) for o, _ in paired]),
        "runs": len(paired),
        **{f"{r}_ours": median([role_cpu(o, r) for o, _ in paired]) for r in ROLES},
        **{f"{r}_base": median([role_cpu(b, r) for _, b in paired]) for r in ROLES},
    }


def state_sizes(paths: list[Path]) -> dict[int, dict[str, int]]:
    sizes: dict[int, dict[str, int]] = {}
    for path in paths:
        for n, kinds in json.loads(path.read_text()).get("state_sizes", {}).items():
            for kind, data in kinds.items():
                sizes.setdefault(int(n), {})[kind] = data["state_bytes"]
    return sizes


def render(before: list[Path], after: list[Path], label_a: str, label_b: str) -> str:
    a, b = pairs(load_runs(before)), pairs(load_runs(after))
    lines = [
        f"| N | operation | wall ratio {label_a} → {label_b} | CPU ratio {label_a} → {label_b} | "
        f"ours wall s {label_a} → {label_b} | ours CPU s {label_a} → {label_b} | "
        f"CLI / program / provider CPU s, {label_a} → {label_b} (baseline) | paired runs |",
        "|---:|---|---|---|---|---|---|---|",
    ]
    for key in sorted(set(a) & set(b)):
        n, op = key
        x, y = side(a[key]), side(b[key])
        roles = "; ".join(
            f"{x[f'{r}_ours']:.1f} → {y[f'{r}_ours']:.1f} ({y[f'{r}_base']:.1f})" for r in ROLES
        )
        lines.append(
            f"| {n} | {op} | {x['wall_ratio']:.2f} → **{y['wall_ratio']:.2f}** | {x['cpu_ratio']:.2f} → "
            f"**{y['cpu_ratio']:.2f}** | {x['wall']:.2f} → {y['wall']:.2f} | {x['cpu']:.2f} → {y['cpu']:.2f} | "
            f"{roles} | {x['runs']} / {y['runs']} |"
        )
    sa, sb = state_sizes(before), state_sizes(after)
    lines += ["", f"| N | state bytes after `up`, ours {label_a} → {label_b} | baseline | ours / baseline, "
              f"{label_a} → {label_b} |", "|---:|---|---:|---|"]
    for n in sorted(set(sa) & set(sb)):
        base = sb[n].get("baseline") or sa[n].get("baseline") or 0
        oa, ob = sa[n].get("ours", 0), sb[n].get("ours", 0)
        if base:
            lines.append(f"| {n} | {oa:,} → {ob:,} | {base:,} | {oa / base:.2f} → **{ob / base:.2f}** |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", nargs="+", type=Path, required=True)
    parser.add_argument("--after", nargs="+", type=Path, required=True)
    parser.add_argument("--label-before", default="before")
    parser.add_argument("--label-after", default="after")
    args = parser.parse_args(argv)
    print(render(args.before, args.after, args.label_before, args.label_after))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

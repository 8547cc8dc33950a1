"""Tables and a plot from a rollout benchmark JSON (bench/rollout.py).

    .venv/bin/python bench/rollout_report.py bench/results/rollout-STAMP.json [--png docs/x.png]

Writes STAMP.md and STAMP.png beside the JSON. Every figure is a median over the repeats of one
(consumers, --parallel) pair, with min–max in brackets; per run, "outage max" is the longest
outage any of its apps saw and "outage median" the median over its apps.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

Run = dict[str, Any]


def _groups(runs: list[Run]) -> dict[tuple[int, int], list[Run]]:
    found: dict[tuple[int, int], list[Run]] = {}
    for run in runs:
        found.setdefault((run["consumers"], run["parallel"]), []).append(run)
    return dict(sorted(found.items()))


def _median(values: Iterable[Optional[float]]) -> Optional[float]:
    kept = [v for v in values if v is not None]
    return statistics.median(kept) if kept else None


def _cell(values: list[Optional[float]]) -> str:
    kept = [v for v in values if v is not None]
    if not kept:
        return "–"
    if len(kept) == 1:
        return f"{kept[0]:.1f}"
    return f"**{statistics.median(kept):.1f}** ({min(kept):.1f}–{max(kept):.1f})"


def _phase(run: Run) -> dict[str, Optional[float]]:
    """Seconds from the command's start, for the steps every app's outage is made of. The
    regenerate is taken as the first failing call of any app (rotatedAt has 1 s resolution)."""
    apps = run["apps"]
    down = min(a["t_app_down"] for a in apps if a["t_app_down"] is not None)
    first_start = min(a["t_started"] for a in apps if a["t_started"] is not None)
    last_back = max(a["t_app_back"] for a in apps if a["t_app_back"] is not None)
    last_done = max(a["t_done"] for a in apps if a["t_done"] is not None)
    preview = next((t for t, line in run["lines"] if line.endswith(": preview")), None)
    p = run["phases"]
    return {
        "start → token-stack preview begins": preview,
        "preview (token stack)": p["t_token_up"] - preview if preview is not None else None,
        "token-stack `up` begins → first app fails (regenerate)": down - p["t_token_up"],
        "regenerate → token-stack `up` returns": p["t_token_done"] - down,
        "token-stack `up` returns → first consumer starts": first_start - p["t_token_done"],
        "first consumer starts → last app answers 200": last_back - first_start,
        "last app answers 200 → last consumer done": last_done - last_back,
        "last consumer done → command exits": run["wall_seconds"] - last_done,
    }


def _consumer_split(run: Run) -> tuple[Optional[float], Optional[float]]:
    """Median over a run's consumers: its start → its app's recovery, and the recovery → its end.

    An app that made no call while its token was dead saw no outage and has no recovery time.
    """
    seen = [a for a in run["apps"] if a["t_app_back"] is not None]
    to_back = [a["t_app_back"] - a["t_started"] for a in seen]
    after = [a["t_done"] - a["t_app_back"] for a in seen]
    return _median(to_back), _median(after)


def summary_table(groups: dict[tuple[int, int], list[Run]]) -> list[str]:
    out = ["| consumers | `--parallel` | runs | rollout wall (s) | window (s) | app outage, max over apps (s) "
           "| app outage, median over apps (s) | consumer's own `up` (s), median | token-stack `up` (s) "
           "| load (1-min) |",
           "|---:|---:|---:|---|---|---|---|---|---|---|"]
    for (count, parallel), runs in groups.items():
        loads = [r["load_before"]["loadavg"][0] for r in runs]
        out.append(
            f"| {count} | {parallel} | {len(runs)} | {_cell([r['wall_seconds'] for r in runs])} "
            f"| {_cell([r['window_seconds'] for r in runs])} | {_cell([r['outage_max'] for r in runs])} "
            f"| {_cell([r['outage_median'] for r in runs])} | {_cell([r['up_median'] for r in runs])} "
            f"| {_cell([r['token_stack_seconds'] for r in runs])} | {min(loads):.1f}–{max(loads):.1f} |")
    return out


def goals(groups: dict[tuple[int, int], list[Run]], parallel: int) -> list[str]:
    one = groups.get((1, parallel))
    if not one:
        return ["(no 1-consumer runs: goals not assessed)"]
    outage_1 = _median(r["outage_max"] for r in one)
    up_1 = _median(r["up_median"] for r in one)
    per_run = sum(1 for r in one if r["outage_max"] <= r["up_median"] + 1.0)
    lines = ["| goal | measured (medians) | met? |", "|---|---|---|",
             f"| 1 consumer: outage ≤ its own `up` + 1 s | {outage_1:.1f} s vs {up_1:.1f} + 1 = {up_1 + 1:.1f} s "
             f"(met in {per_run} of {len(one)} runs) | **{'yes' if outage_1 <= up_1 + 1 else 'no'}** |"]
    for k in sorted({p for c, p in groups if c == 16}):
        sixteen = groups[(16, k)]
        worst = _median(r["outage_max"] for r in sixteen)
        typical = _median(r["outage_median"] for r in sixteen)
        lines.append(f"| 16 consumers (`--parallel {k}`): outage ≤ 2 × the 1-consumer outage "
                     f"| max over apps {worst:.1f} s, median over apps {typical:.1f} s, vs 2 × {outage_1:.1f} "
                     f"= {2 * outage_1:.1f} s | **{'yes' if worst <= 2 * outage_1 else 'no'}** (max over apps), "
                     f"{'yes' if typical <= 2 * outage_1 else 'no'} (median over apps) |")
    return lines


def phases_table(groups: dict[tuple[int, int], list[Run]]) -> list[str]:
    keys = list(groups)
    header = "| step (medians, s) | " + " | ".join(f"{c} consumers, `--parallel {k}`" for c, k in keys) + " |"
    out = [header, "|---|" + "---:|" * len(keys)]
    phases = {key: [_phase(r) for r in runs] for key, runs in groups.items()}
    for name in next(iter(phases.values()))[0]:
        cells = [_median(p[name] for p in phases[key]) for key in keys]
        out.append(f"| {name} | " + " | ".join("–" if v is None else f"{v:.1f}" for v in cells) + " |")
    split = {key: [_consumer_split(r) for r in runs] for key, runs in groups.items()}
    for i, name in enumerate(("per consumer: its start → its app answers 200",
                              "per consumer: its app answers 200 → its end")):
        cells = [_median(s[i] for s in split[key]) for key in keys]
        out.append(f"| {name} | " + " | ".join("–" if v is None else f"{v:.1f}" for v in cells) + " |")
    return out


def runs_table(runs: list[Run]) -> list[str]:
    out = ["| run | load before → after | wall | window | token stack | outage max | outage median "
           "| up median | apps with > 1 outage |", "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in runs:
        flaps = sum(1 for a in r["apps"] if a["outages"] > 1)
        out.append(f"| {r['tag']} | {r['load_before']['loadavg'][0]:.1f} → {r['load_after']['loadavg'][0]:.1f} "
                   f"| {r['wall_seconds']:.1f} | {r['window_seconds']} | {r['token_stack_seconds']} "
                   f"| {r['outage_max']:.2f} | {r['outage_median']:.2f} | {r['up_median']:.1f} | {flaps} |")
    return out


def markdown(data: dict[str, Any]) -> str:
    groups = _groups(data["runs"])
    default_k = min(k for c, k in groups if c == 1) if any(c == 1 for c, _ in groups) else 4
    m = data["machine"]
    lines = [f"# Rollout benchmark {data['stamp']}", "",
             f"commit `{m['git_commit']}`{' (dirty: ' + ', '.join(m['git_dirty']) + ')' if m['git_dirty'] else ''}; "
             f"{m['cores']} cores; Python {m['python']}; Pulumi CLI {m['pulumi_cli']}; {data['repeats']} repeats; "
             f"load at start: `{data['load_start']['uptime']}`", "",
             "## Summary (median over repeats, min–max)", "", *summary_table(groups), "",
             "## Goals", "", *goals(groups, default_k), "",
             "## Where an outage goes (seconds from the command's start, medians)", "", *phases_table(groups), "",
             "## Every run", "", *runs_table(data["runs"]), ""]
    return "\n".join(lines)


def plot(data: dict[str, Any], png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = _groups(data["runs"])
    default_k = 4 if any(k == 4 for _, k in groups) else min(k for _, k in groups)
    main = {c: runs for (c, k), runs in groups.items() if k == default_k}
    counts = sorted(main)
    series: list[tuple[str, Callable[[Run], float], str]] = [
        ("rollout wall time", lambda r: r["wall_seconds"], "tab:gray"),
        ("window (report)", lambda r: r["window_seconds"], "tab:blue"),
        ("app outage, max over apps", lambda r: r["outage_max"], "tab:red"),
        ("app outage, median over apps", lambda r: r["outage_median"], "tab:orange"),
        ("consumer's own up, median", lambda r: r["up_median"], "tab:green"),
    ]
    fig, ax = plt.subplots(figsize=(8, 5))
    for label, pick, colour in series:
        med = [statistics.median(pick(r) for r in main[c]) for c in counts]
        low = [med[i] - min(pick(r) for r in main[c]) for i, c in enumerate(counts)]
        high = [max(pick(r) for r in main[c]) - med[i] for i, c in enumerate(counts)]
        ax.errorbar(counts, med, yerr=[low, high], marker="o", capsize=3, label=label, color=colour)
        for (c, k), runs in groups.items():
            if k != default_k:
                ax.plot([c * 1.06], [statistics.median(pick(r) for r in runs)], marker="D", linestyle="none",
                        color=colour, markerfacecolor="white")
    if 1 in main:
        outage_1 = statistics.median(r["outage_max"] for r in main[1])
        up_1 = statistics.median(r["up_median"] for r in main[1])
        ax.axhline(up_1 + 1, color="tab:green", linestyle=":", linewidth=1, label="goal, 1 consumer: its up + 1 s")
        ax.axhline(2 * outage_1, color="tab:red", linestyle=":", linewidth=1,
                   label="goal, 16 consumers: 2 × the 1-consumer outage")
    others = sorted({k for _, k in groups if k != default_k})
    ax.set_xscale("log", base=2)
    ax.set_xticks(counts, [str(c) for c in counts])
    ax.set_xlabel(f"consumers (--parallel {default_k}; hollow diamonds: --parallel "
                  f"{', '.join(map(str, others))})" if others else f"consumers (--parallel {default_k})")
    ax.set_ylabel("seconds (median of repeats, min–max bars)")
    ax.set_title(f"gorules-tokens rollout on file:// , 2 shared cores ({data['stamp']})")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)


def render(json_path: Path, png: Optional[Path] = None) -> None:
    data = json.loads(json_path.read_text())
    json_path.with_suffix(".md").write_text(markdown(data))
    plot(data, json_path.with_suffix(".png"))
    if png:
        plot(data, png)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="tables and plot of a rollout benchmark JSON")
    parser.add_argument("json", type=Path)
    parser.add_argument("--png", type=Path, help="also write the plot here (e.g. docs/performance-rollout.png)")
    args = parser.parse_args(argv)
    render(args.json, args.png)
    print(args.json.with_suffix(".md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

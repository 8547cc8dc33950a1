"""Tables (Markdown) and a plot (PNG) from a bench/results/*.json file.

    .venv/bin/python bench/report.py bench/results/<stamp>.json [--plot FILE.png] [--no-plot]

Writes `<stamp>.md` (and `<stamp>.png` unless --no-plot) next to the JSON and prints the
Markdown. Ratios are paired: ours/baseline of the same repeat (the two runs were adjacent),
then min/median/max over repeats. With the `same_state` kind (issue 25) a table gives
ours / same_state (what our code costs) and same_state / baseline (what the resource's shape
costs), by wall time and CPU.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

OPS = ("up", "preview", "refresh", "rotate", "destroy")
KINDS = ("ours", "baseline", "same_state")
OP_LABEL = {
    "up": "up (create N)",
    "preview": "preview (no change)",
    "refresh": "refresh",
    "rotate": "rotate all N",
    "destroy": "destroy",
}
TARGET_RATIO = 1.15
TARGET_RATIO_OPS = ("up", "preview", "refresh")
PROVIDER_LIMIT = 256


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def mib(value: float) -> str:
    return f"{value / 2**20:.0f}"


def spread(values: list[float], fmt: str = "{:.2f}") -> str:
    if not values:
        return "-"
    med = statistics.median(values)
    if len(values) == 1:
        return fmt.format(med)
    return f"{fmt.format(med)} ({fmt.format(min(values))}–{fmt.format(max(values))})"


def grouped(doc: dict[str, Any]) -> dict[tuple[int, str], dict[str, list[dict[str, Any]]]]:
    groups: dict[tuple[int, str], dict[str, list[dict[str, Any]]]] = {}
    for run in doc["runs"]:
        groups.setdefault((run["n"], run["op"]), {k: [] for k in KINDS})[run["kind"]].append(run)
    return groups


def median_of(values: list[float], fmt: str = "{:.2f}") -> str:
    return fmt.format(statistics.median(values)) if values else "-"


def mib_of(values: list[float]) -> str:
    return mib(statistics.median(values)) if values else "-"


def ratios(ours: list[dict[str, Any]], base: list[dict[str, Any]], key: str = "wall_s") -> list[float]:
    by_rep = {r["rep"]: r for r in base}
    return [o[key] / by_rep[o["rep"]][key] for o in ours if o["rep"] in by_rep and by_rep[o["rep"]][key]]


def route_total(run: dict[str, Any], needle: str, method: str | None = None) -> int:
    total = 0
    for key, count in run["routes"].items():
        m, route, _status = key.split(" ")
        if needle in route and (method is None or m == method):
            total += count
    return total


def requests_cell(runs: list[dict[str, Any]]) -> str:
    """Requests of our stack: total, and per kind when there are any (same every repeat?)."""
    totals = sorted({r["requests"] for r in runs})
    regen = sorted({route_total(r, "regenerate-token") for r in runs})
    lists = sorted({route_total(r, "/environments", "GET") for r in runs})
    parts = [f"{'/'.join(map(str, totals))}"]
    if any(regen):
        parts.append(f"regen {'/'.join(map(str, regen))}")
    if any(lists):
        parts.append(f"list {'/'.join(map(str, lists))}")
    return ", ".join(parts) if len(parts) == 1 else f"{parts[0]} ({'; '.join(parts[1:])})"


def connections_cell(runs: list[dict[str, Any]]) -> str:
    if not any(r["requests"] for r in runs):
        return "0"
    opened = sorted({r["connections_opened"] for r in runs})
    reused = sorted({r["requests_on_reused_connections"] for r in runs})
    return f"{'/'.join(map(str, opened))} (reused by {'/'.join(map(str, reused))} req.)"


def main_table(doc: dict[str, Any]) -> list[str]:
    groups = grouped(doc)
    lines = [
        "| N | operation | ours s, median (min–max) | baseline s, median (min–max) | ratio min / median / max "
        "| runs | BRMS requests (ours) | TCP connections opened (ours) | peak tree RSS MiB ours / baseline "
        "| CPU s ours / baseline |",
        "|---:|---|---:|---:|---|---:|---|---|---:|---:|",
    ]
    for n in doc["sizes"]:
        for op in OPS:
            g = groups.get((n, op))
            if not g:
                continue
            ours, base = g["ours"], g["baseline"]
            rs = ratios(ours, base)
            ratio = (
                f"{min(rs):.2f} / **{statistics.median(rs):.2f}** / {max(rs):.2f}" if rs else "-"
            )
            lines.append(
                f"| {n} | {OP_LABEL[op]} | {spread([r['wall_s'] for r in ours])} | "
                f"{spread([r['wall_s'] for r in base])} | {ratio} | {len(rs)} | {requests_cell(ours)} | "
                f"{connections_cell(ours)} | "
                f"{mib_of([r['peak_tree_rss'] for r in ours])} / {mib_of([r['peak_tree_rss'] for r in base])} | "
                f"{median_of([r['cpu_s'] for r in ours])} / {median_of([r['cpu_s'] for r in base])} |"
            )
    return lines


def memory_table(doc: dict[str, Any]) -> list[str]:
    groups = grouped(doc)
    lines = [
        "| N | operation | peak tree RSS MiB ours / baseline | largest process MiB ours / baseline "
        "| provider process MiB ours / baseline | program MiB ours / baseline |",
        "|---:|---|---:|---:|---:|---:|",
    ]

    def comp(runs: list[dict[str, Any]], role: str) -> str:
        values = [r["components"].get(role, {}).get("peak_rss", 0) for r in runs]
        values = [v for v in values if v]
        return mib(statistics.median(values)) if values else "-"

    for n in doc["sizes"]:
        for op in OPS:
            g = groups.get((n, op))
            if not g:
                continue
            o, b = g["ours"], g["baseline"]
            if not (o and b):
                continue
            lines.append(
                f"| {n} | {op} | {mib(max(r['peak_tree_rss'] for r in o))} / {mib(max(r['peak_tree_rss'] for r in b))} | "
                f"{mib(max(r['max_single_rss'] for r in o))} / {mib(max(r['max_single_rss'] for r in b))} | "
                f"{comp(o, 'provider')} / {comp(b, 'provider')} | {comp(o, 'program')} / {comp(b, 'program')} |"
            )
    return lines


def sizes_table(doc: dict[str, Any]) -> list[str]:
    lines = [
        "| N | stack | state file bytes | bytes / resource (file ÷ N) | one resource's JSON entry | "
        "other entries (stack, default provider) | `__provider` pickle / base64 / as stored (secret) |",
        "|---:|---|---:|---:|---:|---:|---|",
    ]
    for n_s, kinds in doc.get("state_sizes", {}).items():
        for kind in KINDS:
            s = kinds.get(kind)
            if not s:
                continue
            lines.append(
                f"| {n_s} | {kind} | {s['state_bytes']:,} | {s.get('state_bytes_per_resource', 0):,.0f} | "
                f"{s.get('resource_json_bytes_mean', 0):,.0f} | {s.get('non_dynamic_json_bytes', 0):,} | "
                f"{s.get('provider_pickle_bytes', '?')} / {s.get('provider_b64_bytes', '?')} / "
                f"{s.get('provider_stored_bytes', '?')} |"
            )
    return lines


def marginal_bytes(doc: dict[str, Any]) -> dict[str, float]:
    sizes = doc.get("state_sizes", {})
    ns = sorted(int(n) for n in sizes)
    out: dict[str, float] = {}
    if len(ns) >= 2:
        lo, hi = str(ns[0]), str(ns[-1])
        for kind in KINDS:
            if kind in sizes[lo] and kind in sizes[hi]:
                out[kind] = (sizes[hi][kind]["state_bytes"] - sizes[lo][kind]["state_bytes"]) / (ns[-1] - ns[0])
    return out


def same_state_table(doc: dict[str, Any]) -> list[str]:
    """ours / same_state: what our code costs on top of the engine carrying the same state;
    same_state / baseline: what the resource's shape (17 values, not 6) costs the engine."""
    groups = grouped(doc)
    if not any(g["same_state"] for g in groups.values()):
        return []
    lines = [
        "| N | operation | ours s | same_state s | baseline s | ours / same_state, wall (CPU) "
        "| same_state / baseline, wall (CPU) | runs |",
        "|---:|---|---:|---:|---:|---|---|---:|",
    ]

    def paired(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> str:
        wall, cpu = ratios(a, b), ratios(a, b, "cpu_s")
        return f"**{statistics.median(wall):.2f}** ({statistics.median(cpu):.2f})" if wall and cpu else "-"

    for n in doc["sizes"]:
        for op in OPS:
            g = groups.get((n, op))
            if not g or not g["same_state"]:
                continue
            ours, same, base = g["ours"], g["same_state"], g["baseline"]
            lines.append(
                f"| {n} | {OP_LABEL[op]} | {median_of([r['wall_s'] for r in ours])} | "
                f"{median_of([r['wall_s'] for r in same])} | {median_of([r['wall_s'] for r in base])} | "
                f"{paired(ours, same)} | {paired(same, base)} | {len(same)} |"
            )
    return lines


def targets(doc: dict[str, Any]) -> list[str]:
    groups = grouped(doc)
    lines = ["| target | measured | met? |", "|---|---|---|"]
    n_target = 100 if any(n == 100 for n in doc["sizes"]) else max(doc["sizes"])
    for op in TARGET_RATIO_OPS:
        g = groups.get((n_target, op))
        if not g:
            continue
        rs = ratios(g["ours"], g["baseline"])
        if not rs:
            continue
        med = statistics.median(rs)
        lines.append(
            f"| ratio ours/baseline ≤ {TARGET_RATIO} for `{op}` at N={n_target} | median {med:.2f} "
            f"(min {min(rs):.2f}, max {max(rs):.2f}) | {'yes' if med <= TARGET_RATIO else '**no**'} |"
        )
    pre = [r for (n, op), g in groups.items() if op == "preview" for r in g["ours"]]
    lines.append(
        f"| no-change preview: 0 requests | {sorted({r['requests'] for r in pre})} over all N | "
        f"{'yes' if all(r['requests'] == 0 for r in pre) else '**no**'} |"
    )
    ref = [r for (n, op), g in groups.items() if op == "refresh" for r in g["ours"]]
    lists = sorted({route_total(r, "/environments", "GET") for r in ref})
    others = sorted({r["requests"] - route_total(r, "/environments", "GET") for r in ref})
    lines.append(
        f"| refresh: ≤ 1 list request per project (1 project) | list requests {lists}, other requests {others} | "
        f"{'yes' if ref and max(lists) <= 1 and max(others) == 0 else '**no**'} |"
    )
    rot = [(n, r) for (n, op), g in groups.items() if op == "rotate" for r in g["ours"]]
    ok = all(route_total(r, "regenerate-token") == n and r["requests"] == n for n, r in rot)
    lines.append(
        "| rotation of N: exactly N regenerate requests | "
        + ", ".join(sorted({f"N={n}: {route_total(r, 'regenerate-token')} regen / {r['requests']} total" for n, r in rot}))
        + f" | {'yes' if ok else '**no**'} |"
    )
    busy = [(n, r) for (n, op), g in groups.items() if op in ("up", "rotate") and n >= 10 for r in g["ours"]]
    reuse_ok = all(r["connections_opened"] < r["requests"] for _, r in busy)
    max_conn = max((r["connections_opened"] for _, r in busy), default=0)
    lines.append(
        f"| connections reused, not one per request | at most {max_conn} connections for up to "
        f"{max((r['requests'] for _, r in busy), default=0)} requests | {'yes' if reuse_ok else '**no**'} |"
    )
    sizes = [s["ours"].get("provider_b64_bytes") for s in doc.get("state_sizes", {}).values() if "ours" in s]
    stored = [s["ours"].get("provider_stored_bytes") for s in doc.get("state_sizes", {}).values() if "ours" in s]
    sizes = [s for s in sizes if s]
    if sizes:
        lines.append(
            f"| `__provider` < {PROVIDER_LIMIT} bytes | {max(sizes)} bytes (base64 of a "
            f"{max(s['ours'].get('provider_pickle_bytes', 0) for s in doc['state_sizes'].values() if 'ours' in s)}-byte "
            f"pickle); {max(stored)} bytes as stored, encrypted as a secret | {'yes' if max(sizes) < PROVIDER_LIMIT else '**no**'} |"
        )
    return lines


def profile_tables(doc: dict[str, Any]) -> list[str]:
    prof = doc.get("profile")
    if not prof:
        return []
    n = prof["n"]
    runs = prof["runs"]
    out = [f"### Where the time goes (N={n}, one run each, profiling pass)", ""]
    out += [
        "Wall time and CPU seconds per process of the tree (spans pass: the provider is the "
        "instrumented stand-in, timestamps only). `provider busy` is the wall time during which at "
        "least one gRPC call was being served; `HTTP` the wall time with at least one request in "
        "flight; `provider start` is when the engine launched the provider process.",
        "",
        "| stack | op | wall s | CLI CPU | program CPU | provider CPU | other Python CPU | localbrms CPU "
        "| provider start → exit s | provider busy s | HTTP s | slowest RPC |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---|",
    ]
    for r in runs:
        if r["mode"] != "spans":
            continue
        c = r["components"]
        p = r.get("provider") or {}
        marks = p.get("marks_rel_s", {})
        slow = max(p.get("rpc_by_method", {}).items(), key=lambda kv: kv[1]["max_s"], default=None)
        slow_txt = f"{slow[0]} {slow[1]['max_s']:.2f}s" if slow else "-"
        others = sum(v.get("cpu", 0) for k, v in c.items() if k.startswith("other"))
        out.append(
            f"| {r['kind']} | {r['op']} | {r['wall_s']:.2f} | {c.get('cli', {}).get('cpu', 0):.2f} | "
            f"{c.get('program', {}).get('cpu', 0):.2f} | {c.get('provider', {}).get('cpu', 0):.2f} | {others:.2f} | "
            f"{r['server_cpu_s']:.2f} | {marks.get('started', 0):.2f} → {marks.get('exited', 0):.2f} | "
            f"{p.get('rpc_busy_s', 0):.2f} | {p.get('http_busy_s', 0):.2f} | {slow_txt} |"
        )
    cli = [r for r in runs if r["mode"] == "cli" and r.get("pprof", {}).get("total_s")]
    if cli:
        labels = list(next(iter(cli))["pprof"]["functions"].keys())
        keys = ["saveSnapshot", "json marshal of the checkpoint", "md5 of written blobs", "backup copy (.bak)",
                "secret batch encryption", "passphrase key derivation", "GC"]
        keys = [k for k in keys if any(k in r["pprof"]["functions"] for r in cli)] or labels
        out += [
            "",
            "Go CPU profile of the CLI (`pulumi --profiling`), CPU seconds (cumulative) in:",
            "",
            "| stack | op | wall s | CLI CPU samples s | " + " | ".join(keys) + " |",
            "|---|---|---:|---:|" + "---:|" * len(keys),
        ]
        for r in cli:
            f = r["pprof"]["functions"]
            out.append(
                f"| {r['kind']} | {r['op']} | {r['wall_s']:.2f} | {r['pprof']['total_s']:.2f} | "
                + " | ".join(f"{f.get(k, 0):.2f}" for k in keys) + " |"
            )
    skip = {(r["kind"], r["op"]): r for r in runs if r["mode"] == "skip-checkpoints"}
    timed = grouped(doc)
    if skip:
        out += [
            "",
            "Same operations with `PULUMI_SKIP_CHECKPOINTS=true` (state written once at the end, not after "
            f"every step), one run each, against the medians of the timed runs at N={n} — wall s:",
            "",
            "| op | ours, no checkpoints | baseline, no checkpoints | ratio | ours, timed median | baseline, timed median |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for op in ("up", "rotate", "destroy"):
            o, b = skip.get(("ours", op)), skip.get(("baseline", op))
            if o and b:
                g = timed.get((n, op), {"ours": [], "baseline": []})
                om = statistics.median(r["wall_s"] for r in g["ours"]) if g["ours"] else float("nan")
                bm = statistics.median(r["wall_s"] for r in g["baseline"]) if g["baseline"] else float("nan")
                out.append(
                    f"| {op} | {o['wall_s']:.2f} | {b['wall_s']:.2f} | {o['wall_s'] / b['wall_s']:.2f} | "
                    f"{om:.2f} | {bm:.2f} |"
                )
    cp = [r for r in runs if r["mode"] == "cprofile" and r.get("cprofile")]
    if cp:
        out += [
            "",
            "cProfile (every thread) of the provider and program processes; seconds are inflated by "
            "the profiler, compare ours with baseline. `busy` = own time outside waits.",
            "",
            "| stack | op | process | busy s | imports | dill.loads | provider methods | httpx send | top own-time functions |",
            "|---|---|---|---:|---:|---:|---:|---:|---|",
        ]
        for r in cp:
            for role, summary in r["cprofile"].items():
                b = summary["buckets"]
                methods = sum(v["cum_s"] for k, v in b.items() if k.startswith("provider."))
                top = "; ".join(
                    f"{x['function'].rsplit('/', 1)[-1]} {x['own_s']:.2f}" for x in summary["by_own"][:3]
                )
                out.append(
                    f"| {r['kind']} | {r['op']} | {role} | {summary['total_s']:.2f} | "
                    f"{b.get('imports', {}).get('cum_s', 0):.2f} | "
                    f"{b.get('dill.loads (unpickle provider)', {}).get('cum_s', 0):.2f} | {methods:.2f} | "
                    f"{b.get('httpx.Client.send', {}).get('cum_s', 0):.2f} | {top} |"
                )
    return out


def plot(doc: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    plain = FuncFormatter(lambda v, _pos: f"{v:g}")

    groups = grouped(doc)
    sizes = doc["sizes"]
    fig, axes = plt.subplots(2, 3, figsize=(15, 8.5))
    for ax, op in zip(axes.flat, OPS):
        for kind, color, marker in (("ours", "tab:red", "o"), ("baseline", "tab:blue", "s"),
                                    ("same_state", "tab:green", "^")):
            xs, med, lo, hi = [], [], [], []
            for n in sizes:
                runs = groups.get((n, op), {}).get(kind, [])
                if not runs:
                    continue
                walls = [r["wall_s"] for r in runs]
                m = statistics.median(walls)
                xs.append(n)
                med.append(m)
                lo.append(m - min(walls))
                hi.append(max(walls) - m)
            if not xs:
                continue
            label = {"ours": "EnvironmentToken (ours)", "baseline": "no-op dynamic resources (baseline)",
                     "same_state": "no-op resources with ours' state (same_state)"}[kind]
            ax.errorbar(xs, med, yerr=[lo, hi], color=color, marker=marker, capsize=3, label=label)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(f"pulumi {OP_LABEL[op]}")
        ax.set_xlabel("N resources")
        ax.set_ylabel("wall time, s (median, min–max)")
        ax.set_xticks(sizes)
        ax.set_xticklabels([str(n) for n in sizes])
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.yaxis.set_major_formatter(plain)
        ax.yaxis.set_minor_locator(LogLocator(subs=(2.0, 3.0, 5.0, 7.0)))
        ax.yaxis.set_minor_formatter(plain)
        ax.tick_params(axis="y", which="minor", labelsize=7)
        ax.grid(True, which="both", alpha=0.3)
    ax = axes.flat[5]
    for op, marker in zip(OPS, "o^sDv"):
        xs, med = [], []
        for n in sizes:
            g = groups.get((n, op))
            if not g:
                continue
            rs = ratios(g["ours"], g["baseline"])
            if rs:
                xs.append(n)
                med.append(statistics.median(rs))
        ax.plot(xs, med, marker=marker, label=op)
    ax.axhline(TARGET_RATIO, color="grey", linestyle="--", label=f"target {TARGET_RATIO}")
    ax.set_xscale("log")
    ax.set_xticks(sizes)
    ax.set_xticklabels([str(n) for n in sizes])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_title("ratio ours / baseline (median of paired runs)")
    ax.set_xlabel("N resources")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    axes.flat[0].legend(fontsize=8, loc="upper left")
    m = doc["machine"]
    fig.suptitle(
        f"gorules-tokens benchmark — pulumi {m['pulumi_cli']}, Python {m['python']}, {m['cores']} cores "
        f"({m['cpu']}), {doc['started']}",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def render(doc: dict[str, Any]) -> str:
    m = doc["machine"]
    lines = [
        f"# Benchmark results {doc['started']}{' (quick)' if doc.get('quick') else ''}",
        "",
        f"Machine: {m['cpu']}, {m['cores']} logical cores, {m['memory_gib']} GiB, Linux {m['kernel']}; "
        f"Python {m['python']}; Pulumi CLI {m['pulumi_cli']}, SDK {m['pulumi_sdk']}; commit {m['git_commit']}. "
        f"Load average before {doc.get('load_before')}, after {doc.get('load_after')}; "
        f"run took {doc.get('duration_s', '?')} s. Repeats per N: {doc['repeats']}.",
        "",
        "## Time, requests, connections",
        "",
        *main_table(doc),
    ]
    same = same_state_table(doc)
    if same:
        lines += ["", "## Same-state floor (rows of kind `same_state`)", "", *same]
    lines += [
        "",
        "## Memory",
        "",
        *memory_table(doc),
        "",
        "## State size",
        "",
        *sizes_table(doc),
    ]
    mb = marginal_bytes(doc)
    if mb:
        lines += ["", "Marginal state bytes per added resource: " + ", ".join(f"{k} {v:,.0f}" for k, v in mb.items())]
    lines += ["", "## Targets", "", *targets(doc)]
    prof = profile_tables(doc)
    if prof:
        lines += ["", *prof]
    problems = [r for r in doc["runs"] if r.get("problems")]
    if problems:
        lines += ["", "## Sanity-check failures", ""]
        lines += [f"- {r['kind']} N={r['n']} {r['op']} rep {r['rep']}: {'; '.join(r['problems'])}" for r in problems]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", type=Path)
    parser.add_argument("--plot", type=Path, default=None, help="PNG path (default: next to the JSON)")
    parser.add_argument("--no-plot", action="store_true")
    args = parser.parse_args(argv)
    doc = load(args.results)
    text = render(doc)
    args.results.with_suffix(".md").write_text(text)
    print(text)
    if not args.no_plot:
        target = args.plot or args.results.with_suffix(".png")
        plot(doc, target)
        print(f"plot: {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Repeated `pulumi refresh` of one pair of stacks, for A/B-ing code variants without a new `up`.

Lays out the bench's two stacks (ours and the no-op baseline) at N tokens, runs `up` once, then
`pulumi refresh` R times per stack (the pair's order flips each repeat) and prints one JSON line per
run: CPU of the whole tree and per process role, BRMS requests, load average. With --rounds K it
then waits K - 1 times for the file named by --go to appear, reads a label from it, deletes it and
runs the next round: edit the provider's code in between (the workspaces use the repository's code),
`echo label > FILE`, and the lines of that round carry the label. Ends with `destroy` of both.

    .venv/bin/python bench/refresh_loop.py --n 300 --repeats 4 --rounds 3 --go /tmp/go > loop.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench as B  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=4, help="refreshes per stack and round")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--go", default="/tmp/refresh-loop-go", help="file whose appearance starts the next round")
    args = parser.parse_args()
    bench = B.Bench(Path(tempfile.mkdtemp(prefix="refresh-loop-")), args.n)
    try:
        for kind in B.KINDS:
            bench.stacks[kind].configure(args.n, "r1")
            bench.run_op(bench.stacks[kind], "up")
        label = "start"
        for round_no in range(args.rounds):
            if round_no:
                go = Path(args.go)
                print(f"# round {round_no}: waiting for {go}", file=sys.stderr, flush=True)
                while not go.exists():
                    time.sleep(2)
                label = go.read_text().strip() or f"round-{round_no}"
                go.unlink()
            for rep in range(args.repeats):
                for kind in B.KINDS if rep % 2 == 0 else B.KINDS[::-1]:
                    rec = bench.run_op(bench.stacks[kind], "refresh")
                    print(json.dumps({
                        "label": label, "kind": kind, "cpu": rec["cpu_s"], "requests": rec["requests"],
                        "comp": {role: c["cpu"] for role, c in rec["components"].items()}, "load": rec["load"],
                    }), flush=True)
        for kind in B.KINDS:
            bench.run_op(bench.stacks[kind], "destroy")
    finally:
        bench.close()


if __name__ == "__main__":
    main()

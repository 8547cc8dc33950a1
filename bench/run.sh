#!/usr/bin/env bash
# Runs the benchmark (bench/bench.py) after making sure .venv, the pinned Pulumi CLI and the
# benchmark's own packages (bench/requirements.txt) are installed. Idempotent: a warm run only
# compares two hashes and a version. Arguments go to bench.py, e.g. `bench/run.sh --quick`;
# `bench/run.sh --rollout [ARGS]` runs the rollout benchmark (bench/rollout.py) instead.
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../scripts/bootstrap.sh
source "$BENCH_DIR/../scripts/bootstrap.sh"   # sets REPO, VENV, PATH, GORULES_PULUMI_BIN

want="$(cat "$BENCH_DIR/requirements.txt"; "$VENV/bin/python" --version)"
want="$(printf '%s' "$want" | sha256sum | cut -c1-16)"
if [[ "$(cat "$VENV/.bench-requirements-hash" 2>/dev/null)" != "$want" ]]; then
    printf '[bench] installing bench/requirements.txt into .venv\n' >&2
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$BENCH_DIR/requirements.txt" >&2
    printf '%s' "$want" >"$VENV/.bench-requirements-hash"
fi

if [[ "${1:-}" == "--rollout" ]]; then
    shift
    exec "$VENV/bin/python" "$BENCH_DIR/rollout.py" "$@"
fi
exec "$VENV/bin/python" "$BENCH_DIR/bench.py" "$@"

#!/usr/bin/env bash
# Sourced by the README's commands: makes sure .venv and the pinned Pulumi CLI exist,
# then puts both on PATH. Idempotent: a warm run only compares a hash and a version.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO/.venv"
PYTHON_BIN="${GORULES_PYTHON:-python3.11}"
command -v "$PYTHON_BIN" >/dev/null 2>&1 || PYTHON_BIN=python3

say() { printf '[bootstrap] %s\n' "$*" >&2; }

# Reinstall Python packages only when a requirements file or the interpreter changed.
want="$(cat "$REPO"/requirements*.txt; "$PYTHON_BIN" --version)"
want="$(printf '%s' "$want" | sha256sum | cut -c1-16)"
if [[ ! -x "$VENV/bin/python" || "$(cat "$VENV/.requirements-hash" 2>/dev/null)" != "$want" ]]; then
    say "installing Python packages into .venv"
    [[ -x "$VENV/bin/python" ]] || "$PYTHON_BIN" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REPO/requirements-dev.txt" >&2
    printf '%s' "$want" >"$VENV/.requirements-hash"
fi

PULUMI_BIN_DIR="$("$REPO/engine/install-pulumi.sh")"
export PATH="$PULUMI_BIN_DIR:$VENV/bin:$PATH"
export GORULES_PULUMI_BIN="$PULUMI_BIN_DIR"
export PULUMI_SKIP_UPDATE_CHECK=1

#!/usr/bin/env bash
# Sourced by the README's commands: makes sure .venv and the pinned Pulumi CLI exist,
# then puts both on PATH. Idempotent: a warm run only compares a hash and a version.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO/.venv"
PYTHON_BIN="${GORULES_PYTHON:-python3.11}"
command -v "$PYTHON_BIN" >/dev/null 2>&1 || PYTHON_BIN=python3

say() { printf '[bootstrap] %s\n' "$*" >&2; }

# Reinstall Python packages only when a requirements file, pyproject.toml or the interpreter
# changed. requirements*.txt pin the exact versions the demo and CI run with; the project itself
# is installed editable, so the repo's program, tests and demo import `gorules_tokens` exactly as
# a user's project does.
want="$(cat "$REPO"/requirements*.txt "$REPO/pyproject.toml"; "$PYTHON_BIN" --version)"
want="$(printf '%s' "$want" | sha256sum | cut -c1-16)"
if [[ ! -x "$VENV/bin/python" || "$(cat "$VENV/.requirements-hash" 2>/dev/null)" != "$want" ]]; then
    started=$SECONDS
    log_file="$VENV/pip-install.log"
    [[ -x "$VENV/bin/python" ]] || "$PYTHON_BIN" -m venv "$VENV"
    say "installing Python packages into .venv (log: $log_file)"
    if ! "$VENV/bin/python" -m pip install --disable-pip-version-check \
            -r "$REPO/requirements-dev.txt" -e "$REPO[localbrms,test]" >"$log_file" 2>&1; then
        tail -n 20 "$log_file" >&2
        say "installing Python packages failed; the whole output is in $log_file"
        exit 1
    fi
    printf '%s' "$want" >"$VENV/.requirements-hash"
    say "Python packages ready in $((SECONDS - started)) s"
fi

PULUMI_BIN_DIR="$("$REPO/engine/install-pulumi.sh")"
export PATH="$PULUMI_BIN_DIR:$VENV/bin:$PATH"
export GORULES_PULUMI_BIN="$PULUMI_BIN_DIR"
export PULUMI_SKIP_UPDATE_CHECK=1

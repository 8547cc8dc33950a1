#!/usr/bin/env bash
# The README's test command: installs what is missing, then runs the whole suite, its test
# tests spread over parallel worker processes (pytest-xdist). The tests of a file that shares
# a module-scoped fixture (a stack, a localbrms, a venv) stay together on one worker, in
# order (tests/conftest.py groups them); every other test goes to whichever worker is free.
#
# Workers: GORULES_TEST_WORKERS if set (0 = no workers, everything in this process), else
# two per CPU core: an engine test spends much of its time waiting on child processes (the
# CLI, the language host, the provider, localbrms) and on the BRMS delays it injects, so two
# per core keep the cores busy. Extra arguments go to pytest and win (`-n 0`, `-x`, `-m`).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$REPO/scripts/bootstrap.sh"
cd "$REPO"
# The storage tests' S3 server: a cold build (once per machine) overlaps the first tests; the
# tests' fixture waits for it under the same lock and reports a failed build.
"$REPO/scripts/install-versitygw.sh" >/dev/null 2>&1 &
workers="${GORULES_TEST_WORKERS:-$(($(nproc) * 2))}"
exec python -m pytest -n "$workers" --dist loadgroup "$@"

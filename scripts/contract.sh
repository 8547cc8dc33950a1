#!/usr/bin/env bash
# The contract suite against your own BRMS (README.md, "Contract suite"): installs what is
# missing, then runs `python -m contract` with the arguments given (--mutating, --json FILE).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$REPO/scripts/bootstrap.sh"
cd "$REPO"
exec python -m contract "$@"

#!/usr/bin/env bash
# The README's main-job command: installs what is missing, then runs the demo.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$REPO/scripts/bootstrap.sh"
exec python "$REPO/scripts/demo.py" "$@"

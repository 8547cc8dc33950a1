#!/usr/bin/env bash
# The README's main-job command: installs what is missing, then runs the demo.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$REPO/scripts/bootstrap.sh"
cd "$REPO"
DEMO_HOME="${GORULES_DEMO_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/gorules-tokens/demo}"
mkdir -p "$DEMO_HOME/backend" "$DEMO_HOME/pulumi-home"
export PULUMI_HOME="$DEMO_HOME/pulumi-home" PULUMI_BACKEND_URL="file://$DEMO_HOME/backend"
export PULUMI_CONFIG_PASSPHRASE="${PULUMI_CONFIG_PASSPHRASE:-gorules-tokens-demo}"
pulumi stack select --create demo --secrets-provider passphrase --non-interactive
pulumi up --yes --non-interactive
pulumi destroy --yes --non-interactive

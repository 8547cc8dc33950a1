#!/usr/bin/env bash
# Installs the pinned Pulumi CLI and Python language host into a versioned cache folder
# outside the repository, and prints that folder's bin directory on stdout.
#
# Order of preference:
#   1. the cache already holds a complete install of the pinned version (near-instant);
#   2. a `pulumi` of the pinned version is on PATH with its Python plugins beside it;
#   3. build from the Go module proxy with the machine's Go (a throw-away wrapper module,
#      because upstream go.mod files carry `replace` lines that `go install` refuses);
#   4. no Go: Pulumi's official installer script.
# Progress goes to stderr so callers can capture the path: BIN=$(engine/install-pulumi.sh).
set -euo pipefail

PULUMI_VERSION="${GORULES_PULUMI_VERSION:-3.274.1}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE_ROOT="${GORULES_TOKENS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gorules-tokens}"
ROOT="$CACHE_ROOT/pulumi/v$PULUMI_VERSION"
BIN="$ROOT/bin"
# The language host is our own source: rebuild it whenever that source changes.
LANGHOST_HASH="$(cat "$HERE/langhost/main.go" "$HERE/langhost/go.mod.in" "$0" | sha256sum | cut -c1-16)"
STAMP="$ROOT/.complete-$LANGHOST_HASH"

log() { printf '[install-pulumi] %s\n' "$*" >&2; }

complete_install() {
    local dir="$1"
    [[ -x "$dir/pulumi" && -x "$dir/pulumi-language-python" \
        && -x "$dir/pulumi-language-python-exec" && -x "$dir/pulumi-resource-pulumi-python" ]] || return 1
    [[ "$("$dir/pulumi" version 2>/dev/null)" == "v$PULUMI_VERSION" ]]
}

if [[ -f "$STAMP" ]] && complete_install "$BIN"; then
    echo "$BIN"
    exit 0
fi

if on_path="$(command -v pulumi 2>/dev/null)"; then
    dir="$(dirname "$(readlink -f "$on_path")")"
    if complete_install "$dir"; then
        log "using pulumi v$PULUMI_VERSION found on PATH at $dir"
        echo "$dir"
        exit 0
    fi
fi

mkdir -p "$ROOT"
exec 9>"$ROOT/.lock"
flock 9
# Another process may have finished the install while we waited for the lock.
if [[ -f "$STAMP" ]] && complete_install "$BIN"; then
    echo "$BIN"
    exit 0
fi

if command -v go >/dev/null 2>&1; then
    WORK="$CACHE_ROOT/build/v$PULUMI_VERSION"
    mkdir -p "$WORK/langhost" "$BIN"
    BUILD_LOG="$WORK/build.log"
    log "building pulumi v$PULUMI_VERSION with $(go version | cut -d' ' -f3): first run only, a few minutes (log: $BUILD_LOG)"
    started=$SECONDS
    : >"$BUILD_LOG"
    # Hundreds of `go: downloading` lines go to the log, not the terminal; a failure shows its tail.
    trap 'status=$?; if (( status != 0 )); then tail -n 30 "$BUILD_LOG" >&2; log "engine build failed after $((SECONDS - started)) s; the whole output is in $BUILD_LOG"; fi' EXIT
    sed "s/@PULUMI_VERSION@/v$PULUMI_VERSION/g" "$HERE/langhost/go.mod.in" >"$WORK/go.mod"
    cp "$HERE/langhost/main.go" "$WORK/langhost/main.go"
    cat >"$WORK/tools.go" <<'EOF_TOOLS'
//go:build tools

// Package tools pins the Pulumi CLI into this throw-away wrapper module.
package tools

import _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
EOF_TOOLS
    cd "$WORK"
    log "  downloading Go modules"
    go mod tidy >>"$BUILD_LOG" 2>&1
    ldflags="-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION"
    export CGO_ENABLED=0
    log "  compiling the CLI ($((SECONDS - started)) s so far)"
    go build -trimpath -tags osusergo,grpcnotrace -ldflags "$ldflags" \
        -o "$BIN/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi >>"$BUILD_LOG" 2>&1
    log "  compiling the Python language host ($((SECONDS - started)) s so far)"
    go build -trimpath -tags osusergo,grpcnotrace -ldflags "$ldflags" \
        -o "$BIN/pulumi-language-python" ./langhost >>"$BUILD_LOG" 2>&1
    sdk_dir="$(go mod download -json "github.com/pulumi/pulumi/sdk/v3@v$PULUMI_VERSION" 2>>"$BUILD_LOG" \
        | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
    # Module-cache files are read-only and not executable; the engine only runs a bundled
    # plugin whose owner exec bit is set.
    install -m 0755 "$sdk_dir/python/cmd/pulumi-language-python-exec" "$BIN/"
    install -m 0755 "$sdk_dir/python/dist/pulumi-resource-pulumi-python" "$BIN/"
    trap - EXIT
    log "engine built in $((SECONDS - started)) s"
else
    log "no Go toolchain: using Pulumi's official installer for v$PULUMI_VERSION"
    curl -fsSL https://get.pulumi.com | sh -s -- --version "$PULUMI_VERSION" --install-root "$ROOT" --no-edit-path >&2
fi

complete_install "$BIN" || { log "install of pulumi v$PULUMI_VERSION in $BIN is incomplete"; exit 1; }
rm -f "$ROOT"/.complete-*
touch "$STAMP"
log "pulumi $("$BIN/pulumi" version) ready in $BIN"
echo "$BIN"

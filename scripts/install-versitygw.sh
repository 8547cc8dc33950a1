#!/usr/bin/env bash
# Installs the S3-compatible server the storage tests run localbrms's Deployments against:
# Versity S3 Gateway (versitygw, Apache-2.0), built from the Go module proxy with the machine's
# Go into a versioned cache folder outside the repository. Prints the binary's path on stdout.
#
# Idempotent and safe to run from several processes at once: a complete install (stamp +
# `versitygw --version`) is reused at once; otherwise one process builds under a lock while
# the others wait for it. scripts/test.sh starts it in the background so a cold build overlaps
# the first tests; the storage tests' fixture runs it again and waits for the result.
set -euo pipefail

VERSITYGW_VERSION="${GORULES_VERSITYGW_VERSION:-v1.8.0}"
CACHE_ROOT="${GORULES_TOKENS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gorules-tokens}"
ROOT="$CACHE_ROOT/versitygw/$VERSITYGW_VERSION"
BIN="$ROOT/bin/versitygw"
STAMP="$ROOT/.complete"
BUILD_LOG="$ROOT/build.log"

log() { printf '[install-versitygw] %s\n' "$*" >&2; }
complete_install() { [[ -f "$STAMP" && -x "$BIN" ]] && "$BIN" --version >/dev/null 2>&1; }

if complete_install; then
    echo "$BIN"
    exit 0
fi

mkdir -p "$ROOT"
exec 9>"$ROOT/.lock"
flock 9
if complete_install; then  # another process finished while we waited for the lock
    echo "$BIN"
    exit 0
fi

if ! command -v go >/dev/null 2>&1; then
    log "Go is needed to build versitygw $VERSITYGW_VERSION (the storage tests' S3 server); install Go and run again"
    exit 1
fi

started=$SECONDS
log "building versitygw $VERSITYGW_VERSION with $(go version | cut -d' ' -f3): first run only, 2-3 min on 2 cores (log: $BUILD_LOG)"
: >"$BUILD_LOG"
if ! GOBIN="$ROOT/bin" CGO_ENABLED=0 go install -trimpath -ldflags "-s -w" \
        "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION" >>"$BUILD_LOG" 2>&1; then
    tail -n 30 "$BUILD_LOG" >&2
    log "versitygw build failed after $((SECONDS - started)) s; the whole output is in $BUILD_LOG"
    exit 1
fi
"$BIN" --version >/dev/null
touch "$STAMP"
log "versitygw ready in $((SECONDS - started)) s: $BIN"
echo "$BIN"

#!/usr/bin/env bash
# Builds Prometheus's promtool from the Go module proxy and caches it beside the control-plane
# binaries, keyed by version. The monitoring test (test/monitoring) checks and unit-tests the
# alerts of overlays/components/monitoring with it. Idempotent; a killed build leaves no half
# binary behind. Prints the binary's path last.
#
#   hack/promtool.sh
set -euo pipefail

# Prometheus v3.x is tagged v0.3xx.y for Go modules.
PROMETHEUS_VERSION=${PROMETHEUS_VERSION:-v0.316.0}
CACHE_ROOT=${HOURGLASS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hourglass-gitops}
BIN_DIR="$CACHE_ROOT/bin/prometheus-$PROMETHEUS_VERSION"
BIN="$BIN_DIR/promtool"

log() { echo "promtool: $*" >&2; }

if [[ -x "$BIN" ]]; then echo "$BIN"; exit 0; fi
mkdir -p "$BIN_DIR" "$CACHE_ROOT/src"
exec 9>"$CACHE_ROOT/.promtool.lock"
flock 9
if [[ -x "$BIN" ]]; then echo "$BIN"; exit 0; fi
export GOFLAGS="-mod=mod -buildvcs=false"
export GOTOOLCHAIN=local

dir="$CACHE_ROOT/src/prometheus-$PROMETHEUS_VERSION"
mkdir -p "$dir"
if [[ ! -f "$dir/go.sum" ]]; then
  printf 'module local/promtool-build\n\ngo 1.26\n' >"$dir/go.mod"
  echo 'package tools' >"$dir/tools.go"
  log "resolving github.com/prometheus/prometheus@$PROMETHEUS_VERSION ..."
  (cd "$dir" && go get "github.com/prometheus/prometheus@$PROMETHEUS_VERSION" >"$dir/get.log" 2>&1) \
    || { cat "$dir/get.log" >&2; rm -f "$dir/go.sum"; exit 1; }
fi
start=$SECONDS
log "building promtool (first time only: a few minutes on 2 cores; output in $dir/build.log) ..."
(cd "$dir" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$BIN.tmp" github.com/prometheus/prometheus/cmd/promtool >"$dir/build.log" 2>&1) \
  || { cat "$dir/build.log" >&2; exit 1; }
mv "$BIN.tmp" "$BIN"
log "built promtool in $((SECONDS - start))s"
echo "$BIN"

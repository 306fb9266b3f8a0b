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

# shellcheck source=hack/progress.sh
source "$(dirname "${BASH_SOURCE[0]}")/progress.sh"

dir="$CACHE_ROOT/src/prometheus-$PROMETHEUS_VERSION"
mkdir -p "$dir"
# First-build times: 57 minutes on a busy 2-core machine, divided by 3.5 (the ratio of a busy
# first make demo to the idle builds it runs) for 2 idle cores; most of it is the build.
plan=()
[[ -f "$dir/go.sum" ]] || plan+=("resolve github.com/prometheus/prometheus@$PROMETHEUS_VERSION:180")
plan+=("build promtool:800")
progress_plan promtool "$CACHE_ROOT/logs/promtool.log" "${plan[@]}"
if [[ ! -f "$dir/go.sum" ]]; then
  printf 'module local/promtool-build\n\ngo 1.26\n' >"$dir/go.mod"
  echo 'package tools' >"$dir/tools.go"
  progress_step bash -c 'cd "$1" && go get "github.com/prometheus/prometheus@$2"' _ "$dir" "$PROMETHEUS_VERSION" \
    || { rm -f "$dir/go.sum"; exit 1; }
fi
progress_step bash -c 'cd "$1" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$2.tmp" github.com/prometheus/prometheus/cmd/promtool' _ "$dir" "$BIN"
mv "$BIN.tmp" "$BIN"
echo "$BIN"

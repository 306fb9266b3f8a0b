#!/usr/bin/env bash
# Builds Flux's source-controller and kustomize-controller from the Go module proxy and caches them
# beside the control-plane binaries, keyed by version, with the CRDs they install taken from the
# module cache. Idempotent; a killed build leaves no half binary behind. Prints the folder last.
#
#   hack/flux-bins.sh   build what is missing, print the folder (binaries and crds/)
set -euo pipefail

FLUX_SOURCE_VERSION=${FLUX_SOURCE_VERSION:-v1.9.6}
FLUX_KUSTOMIZE_VERSION=${FLUX_KUSTOMIZE_VERSION:-v1.9.6}
CACHE_ROOT=${HOURGLASS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hourglass-gitops}
BIN_DIR="$CACHE_ROOT/bin/flux-source-$FLUX_SOURCE_VERSION-kustomize-$FLUX_KUSTOMIZE_VERSION"

log() { echo "flux-bins: $*" >&2; }
# shellcheck source=hack/progress.sh
source "$(dirname "${BASH_SOURCE[0]}")/progress.sh"

complete() {
  [[ -x "$BIN_DIR/source-controller" && -x "$BIN_DIR/kustomize-controller" && -f "$BIN_DIR/crds/.complete" ]]
}
if complete; then echo "$BIN_DIR"; exit 0; fi

mkdir -p "$BIN_DIR" "$CACHE_ROOT/src"
# One build at a time (the demo and a test may ask together); the second finds the binaries built.
exec 9>"$CACHE_ROOT/.flux-bins.lock"
flock 9
if complete; then echo "$BIN_DIR"; exit 0; fi
export GOFLAGS="-mod=mod -buildvcs=false"
export GOTOOLCHAIN=local

# The wrapper modules copy the controllers' own non-local replace directives: go build ignores
# replaces of dependencies, and without them the module graph resolves to versions that do not build.
wrapper() { # wrapper <dir> <module> <version> <extra replace lines...>
  local dir=$1 mod=$2 ver=$3; shift 3
  mkdir -p "$dir"
  [[ -f "$dir/go.sum" ]] && return 0
  {
    echo "module local/$(basename "$dir")-build"
    echo
    echo "go 1.26"
    echo
    echo "require ("
    echo "	$mod $ver"
    echo "	$mod/api $ver"
    echo ")"
    echo
    echo "replace ("
    echo "	github.com/opencontainers/go-digest => github.com/opencontainers/go-digest v1.0.1-0.20220411205349-bde1400a84be"
    local r; for r in "$@"; do echo "	$r"; done
    echo ")"
  } >"$dir/go.mod"
  echo 'package tools' >"$dir/tools.go"
  progress_step bash -c 'cd "$1" && go mod download "$2" && go get "$2@$3" "$2/api@$3"' _ "$dir" "$mod" "$ver"
}

build() { # build <wrapper dir> <package> <output name>
  local dir=$1 pkg=$2 out=$3
  [[ -x "$BIN_DIR/$out" ]] && return 0
  progress_step bash -c 'cd "$1" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$2/.$3.tmp" "$4"' _ "$dir" "$BIN_DIR" "$out" "$pkg"
  mv "$BIN_DIR/.$out.tmp" "$BIN_DIR/$out"
}

src_dir="$CACHE_ROOT/src/source-controller-$FLUX_SOURCE_VERSION"
kus_dir="$CACHE_ROOT/src/kustomize-controller-$FLUX_KUSTOMIZE_VERSION"
# The steps of this run, with their first-build times on 2 idle cores (about 2.5 minutes per
# controller, with its modules).
plan=()
[[ -f "$src_dir/go.sum" ]] || plan+=("resolve source-controller $FLUX_SOURCE_VERSION:40")
[[ -f "$kus_dir/go.sum" ]] || plan+=("resolve kustomize-controller $FLUX_KUSTOMIZE_VERSION:40")
[[ -x "$BIN_DIR/source-controller" ]] || plan+=("build source-controller:110")
[[ -x "$BIN_DIR/kustomize-controller" ]] || plan+=("build kustomize-controller:110")
plan+=("copy the CRDs:1")
progress_plan flux-bins "$CACHE_ROOT/logs/flux-bins.log" "${plan[@]}"
# The proxy does not serve the source zip of the pkg/artifact version source-controller asks for.
wrapper "$src_dir" github.com/fluxcd/source-controller "$FLUX_SOURCE_VERSION" \
  "github.com/fluxcd/pkg/artifact => github.com/fluxcd/pkg/artifact v0.18.0"
wrapper "$kus_dir" github.com/fluxcd/kustomize-controller "$FLUX_KUSTOMIZE_VERSION" \
  "sigs.k8s.io/kustomize/api => sigs.k8s.io/kustomize/api v0.21.1" \
  "sigs.k8s.io/kustomize/kyaml => sigs.k8s.io/kustomize/kyaml v0.21.1" \
  "gopkg.in/yaml.v3 => gopkg.in/yaml.v3 v3.0.1"

build "$src_dir" github.com/fluxcd/source-controller source-controller
build "$kus_dir" github.com/fluxcd/kustomize-controller kustomize-controller

# The CRDs come from the same module versions as the binaries.
copy_crds() {
  local tmp="$BIN_DIR/.crds.tmp" pair dir
  rm -rf "$tmp"; mkdir -p "$tmp"
  for pair in "$src_dir github.com/fluxcd/source-controller" "$kus_dir github.com/fluxcd/kustomize-controller"; do
    set -- $pair
    dir=$(cd "$1" && go list -m -f '{{.Dir}}' "$2")
    cp "$dir"/config/crd/bases/*.yaml "$tmp/"
  done
  chmod u+w "$tmp"/*.yaml
  touch "$tmp/.complete"
  rm -rf "$BIN_DIR/crds"; mv "$tmp" "$BIN_DIR/crds"
}
progress_step copy_crds

echo "$BIN_DIR"

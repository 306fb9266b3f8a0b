#!/usr/bin/env bash
# Installs a pinned Go tool into the user cache dir (survives fresh clones), links it into the
# repository's bin/ (where the READMEs' commands expect it: export PATH=$PWD/bin:$PATH) and prints
# its path.
#   hack/tools.sh controller-gen|kustomize
set -euo pipefail
CACHE_ROOT=${HOURGLASS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hourglass-gitops}
export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false

case "${1:-}" in
  controller-gen) pkg=sigs.k8s.io/controller-tools/cmd/controller-gen; ver=${CONTROLLER_TOOLS_VERSION:-v0.23.0} ;;
  kustomize)      pkg=sigs.k8s.io/kustomize/kustomize/v5;              ver=${KUSTOMIZE_VERSION:-v5.8.1} ;;
  *) echo "usage: $0 controller-gen|kustomize" >&2; exit 2 ;;
esac

dir="$CACHE_ROOT/tools/$1-$ver"
if [[ ! -x "$dir/$1" ]]; then
  echo "tools: installing $pkg@$ver ..." >&2
  mkdir -p "$dir"
  GOBIN="$dir" go install "$pkg@$ver"
fi
# bin/ is ignored by Git; the link keeps the cached binary shared between clones.
bin="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/bin"
mkdir -p "$bin" && ln -sfn "$dir/$1" "$bin/$1"
echo "$dir/$1"

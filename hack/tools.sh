#!/usr/bin/env bash
# Installs a pinned Go tool into the user cache dir (survives fresh clones), links it into the
# repository's bin/ (where the READMEs' commands expect it: export PATH=$PWD/bin:$PATH) and prints
# its path.
#   hack/tools.sh controller-gen|kustomize|helm
set -euo pipefail
CACHE_ROOT=${HOURGLASS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hourglass-gitops}
export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false

case "${1:-}" in
  controller-gen) pkg=sigs.k8s.io/controller-tools/cmd/controller-gen; ver=${CONTROLLER_TOOLS_VERSION:-v0.23.0} ;;
  kustomize)      pkg=sigs.k8s.io/kustomize/kustomize/v5;              ver=${KUSTOMIZE_VERSION:-v5.8.1} ;;
  helm)           pkg=helm.sh/helm/v4/cmd/helm;                        ver=${HELM_VERSION:-v4.3.2} ;;
  *) echo "usage: $0 controller-gen|kustomize|helm" >&2; exit 2 ;;
esac

dir="$CACHE_ROOT/tools/$1-$ver"
if [[ ! -x "$dir/$1" ]]; then
  # shellcheck source=hack/progress.sh
  source "$(dirname "${BASH_SOURCE[0]}")/progress.sh"
  # First-build times on 2 idle cores, with the modules: kustomize and controller-gen about a
  # minute each, helm about three.
  case $1 in helm) est=180 ;; *) est=60 ;; esac
  mkdir -p "$dir"
  progress_plan "tools" "$CACHE_ROOT/logs/tools-$1.log" "go install $pkg@$ver:$est"
  progress_step env GOBIN="$dir" go install "$pkg@$ver"
fi
# bin/ is ignored by Git; the link keeps the cached binary shared between clones.
bin="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/bin"
mkdir -p "$bin" && ln -sfn "$dir/$1" "$bin/$1"
echo "$dir/$1"

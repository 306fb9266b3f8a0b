#!/usr/bin/env bash
# Builds the local control plane's binaries (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kwok) from the Go module proxy and caches them in the user cache dir, keyed by
# version, so fresh clones on the same machine start in seconds. Prints the cache folder last.
#
#   hack/control-plane-bins.sh            build what is missing, print the folder
#   hack/control-plane-bins.sh --envtest  only etcd and kube-apiserver (what envtest needs)
#   hack/control-plane-bins.sh --node     also what a real node runs: kubelet, kube-proxy (same
#                                         Kubernetes version) and CoreDNS (a build with only the
#                                         plugins cluster DNS needs)
set -euo pipefail
# shellcheck source=hack/gomod.sh
source "$(dirname "${BASH_SOURCE[0]}")/gomod.sh"
# shellcheck source=hack/progress.sh
source "$(dirname "${BASH_SOURCE[0]}")/progress.sh"

KUBE_VERSION=${KUBE_VERSION:-v1.37.2}
ETCD_VERSION=${ETCD_VERSION:-v3.6.16}
KWOK_VERSION=${KWOK_VERSION:-v0.8.0}
COREDNS_VERSION=${COREDNS_VERSION:-v1.15.0}
CACHE_ROOT=${HOURGLASS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hourglass-gitops}
BIN_DIR="$CACHE_ROOT/bin/k8s-$KUBE_VERSION-etcd-$ETCD_VERSION-kwok-$KWOK_VERSION"

want=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)
case "${1:-}" in
  --envtest) want=(etcd kube-apiserver) ;;
  --node) want+=(kubelet kube-proxy "coredns-$COREDNS_VERSION") ;;
esac

log() { echo "control-plane-bins: $*" >&2; }

missing=()
for b in "${want[@]}"; do [[ -x "$BIN_DIR/$b" ]] || missing+=("$b"); done
# hack/local-cluster.sh runs bin/coredns: the version this script pins.
if [[ -x "$BIN_DIR/coredns-$COREDNS_VERSION" ]]; then ln -sfn "coredns-$COREDNS_VERSION" "$BIN_DIR/coredns"; fi
if [[ ${#missing[@]} -eq 0 ]]; then echo "$BIN_DIR"; exit 0; fi

mkdir -p "$BIN_DIR" "$CACHE_ROOT/src"
export GOFLAGS="-mod=mod -buildvcs=false"
export GOTOOLCHAIN=local

# Building into a temporary name and renaming makes a killed build leave no half binary behind.
build() { # build <wrapper dir> <package> <output name> [ldflags]
  local dir=$1 pkg=$2 out=$3 ldflags=${4:-}
  progress_step bash -c 'cd "$1" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w $2" -o "$3/.$4.tmp" "$5"' _ "$dir" "$ldflags" "$BIN_DIR" "$out" "$pkg"
  mv "$BIN_DIR/.$out.tmp" "$BIN_DIR/$out"
}

has() { local x; for x in "${missing[@]}"; do [[ $x == "$1" ]] && return 0; done; return 1; }
resolved() { [[ -f "$CACHE_ROOT/src/$1/go.sum" ]]; }

# The steps of this run, with their first-build times on 2 idle cores: etcd, kube-apiserver (with
# the resolution of Kubernetes' modules), kube-controller-manager, kube-scheduler and KWOK as
# measured; kubelet, kube-proxy and CoreDNS from their 14 minutes on a busy machine, divided by
# 3.5, the ratio of a busy first make demo (57 min) to the idle builds it runs (16 min).
plan=()
if has etcd; then resolved "etcd-$ETCD_VERSION" || plan+=("resolve etcd $ETCD_VERSION:10"); plan+=("build etcd:15"); fi
if has kube-apiserver || has kube-controller-manager || has kube-scheduler || has kubelet || has kube-proxy; then
  resolved "kubernetes-$KUBE_VERSION" || plan+=("resolve Kubernetes $KUBE_VERSION and its staging modules:60")
  for b in kube-apiserver:180 kube-controller-manager:60 kube-scheduler:30 kubelet:120 kube-proxy:60; do
    has "${b%:*}" && plan+=("build ${b%:*}:${b#*:}")
  done
fi
if has kwok; then resolved "kwok-$KWOK_VERSION" || plan+=("resolve KWOK $KWOK_VERSION:20"); plan+=("build kwok:40"); fi
if has "coredns-$COREDNS_VERSION"; then resolved "coredns-$COREDNS_VERSION" || plan+=("resolve CoreDNS $COREDNS_VERSION:30"); plan+=("build coredns:30"); fi
progress_plan control-plane-bins "$CACHE_ROOT/logs/control-plane-bins.log" "${plan[@]}"

if has etcd; then
  d="$CACHE_ROOT/src/etcd-$ETCD_VERSION"; mkdir -p "$d"
  if [[ ! -f "$d/go.sum" ]]; then
    cat >"$d/go.mod" <<MOD
module local/etcd-build

go 1.26
MOD
    echo 'package tools' >"$d/tools.go"
    progress_step bash -c 'cd "$1" && go get "go.etcd.io/etcd/server/v3@$2"' _ "$d" "$ETCD_VERSION"
  fi
  build "$d" go.etcd.io/etcd/server/v3 etcd
fi

if has kube-apiserver || has kube-controller-manager || has kube-scheduler || has kubelet || has kube-proxy; then
  d="$CACHE_ROOT/src/kubernetes-$KUBE_VERSION"; mkdir -p "$d"
  if [[ ! -f "$d/go.sum" ]]; then
    gomod=$(gomod_path "k8s.io/kubernetes@$KUBE_VERSION" "$d")
    staging_tag="v0.${KUBE_VERSION#v1.}"
    {
      echo "module local/kubernetes-build"
      echo
      echo "go 1.26"
      echo
      echo "require k8s.io/kubernetes $KUBE_VERSION"
      echo
      echo "replace ("
      grep -E '^[[:space:]]*k8s.io/[^ ]+ => \./staging/' "$gomod" | awk -v tag="$staging_tag" '{print "\t" $1 " => " $1 " " tag}'
      echo ")"
    } >"$d/go.mod"
    echo 'package tools' >"$d/tools.go"
    progress_step bash -c 'cd "$1" && go mod download k8s.io/kubernetes && go get "k8s.io/kubernetes/cmd/kube-apiserver@$2" "k8s.io/kubernetes/cmd/kube-controller-manager@$2" "k8s.io/kubernetes/cmd/kube-scheduler@$2" "k8s.io/kubernetes/cmd/kubelet@$2" "k8s.io/kubernetes/cmd/kube-proxy@$2"' _ "$d" "$KUBE_VERSION"
  fi
  minor=${KUBE_VERSION#v1.}; minor=${minor%%.*}
  ver="-X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
  for b in kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy; do
    has "$b" && build "$d" "k8s.io/kubernetes/cmd/$b" "$b" "$ver"
  done
fi

if has kwok; then
  d="$CACHE_ROOT/src/kwok-$KWOK_VERSION"; mkdir -p "$d"
  if [[ ! -f "$d/go.sum" ]]; then
    cat >"$d/go.mod" <<MOD
module local/kwok-build

go 1.26
MOD
    echo 'package tools' >"$d/tools.go"
    progress_step bash -c 'cd "$1" && go get "sigs.k8s.io/kwok@$2"' _ "$d" "$KWOK_VERSION"
  fi
  build "$d" sigs.k8s.io/kwok/cmd/kwok kwok
  # KWOK ships its stages as YAML in its module source, not in the binary.
  src=$(cd "$d" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)
  mkdir -p "$BIN_DIR/kwok-stages"
  for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
           pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
    if [[ -f "$src/kustomize/stage/$f" ]]; then cp "$src/kustomize/stage/$f" "$BIN_DIR/kwok-stages/$(echo "$f" | tr / _)"; fi
  done
  chmod u+w "$BIN_DIR/kwok-stages"/* 2>/dev/null || true
fi

if has "coredns-$COREDNS_VERSION"; then
  # CoreDNS's own main links every plugin (cloud DNS providers, dnstap, ...); a main with only
  # the plugins the cluster's DNS uses builds in a fraction of the time and downloads.
  d="$CACHE_ROOT/src/coredns-$COREDNS_VERSION"; mkdir -p "$d"
  if [[ ! -f "$d/go.sum" ]]; then
    cat >"$d/go.mod" <<MOD
module local/coredns-build

go 1.26
MOD
    cat >"$d/main.go" <<'MAIN'
// CoreDNS with only the plugins a cluster's DNS needs.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
)

// The order plugins run in, as in CoreDNS's plugin.cfg.
func init() {
	dnsserver.Directives = []string{"bind", "health", "ready", "errors", "log", "cache", "kubernetes"}
}

func main() { coremain.Run() }
MAIN
    progress_step bash -c 'cd "$1" && go get "github.com/coredns/coredns@$2"' _ "$d" "$COREDNS_VERSION"
  fi
  build "$d" . "coredns-$COREDNS_VERSION"
  ln -sfn "coredns-$COREDNS_VERSION" "$BIN_DIR/coredns"
fi

echo "$BIN_DIR"

#!/usr/bin/env bash
# Builds the Argo CD components that render and sync Applications (application controller, repo
# server, config-management-plugin server, git ask-pass helper) from the Go module proxy as one
# multi-call binary, and caches it in the user cache dir beside the control-plane binaries, keyed
# by version. Installs Redis (Debian's redis-server) when it is missing. Prints the folder last:
#
#   <folder>/argocd                          the binary (picks the component by its name)
#   <folder>/argocd-application-controller   links to it, one per component
#   <folder>/argocd-repo-server
#   <folder>/argocd-cmp-server
#   <folder>/git-verify-wrapper.sh           the repo server runs it on every Git checkout
#   <folder>/crds/                           Application and AppProject CRDs of that version
#
# The main package is generated here, in a wrapper module under the cache, so that Argo CD's
# dependencies never enter this repository's go.mod.
set -euo pipefail
# shellcheck source=hack/gomod.sh
source "$(dirname "${BASH_SOURCE[0]}")/gomod.sh"
# shellcheck source=hack/progress.sh
source "$(dirname "${BASH_SOURCE[0]}")/progress.sh"

ARGOCD_VERSION=${ARGOCD_VERSION:-v3.5.7}
# argo-cd's go.mod replaces its gitops-engine with ./gitops-engine, a folder its module zip lacks,
# and the proxy refuses the pseudo-version it requires; this is the same engine, published.
GITOPS_ENGINE_VERSION=${GITOPS_ENGINE_VERSION:-v0.0.0-20260914071520-c9c369efcc5b}
CACHE_ROOT=${HOURGLASS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hourglass-gitops}
BIN_DIR="$CACHE_ROOT/bin/argocd-$ARGOCD_VERSION"
SRC_DIR="$CACHE_ROOT/src/argocd-$ARGOCD_VERSION"
COMPONENTS=(argocd-application-controller argocd-repo-server argocd-cmp-server)

log() { echo "argocd-bins: $*" >&2; }

ensure_redis() {
  command -v redis-server >/dev/null && return 0
  if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
    log "redis-server is not installed: install Debian's redis-server package (apt-get install -y redis-server)"
    exit 1
  fi
  log "installing redis-server ..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q redis-server >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q redis-server >/dev/null; }
  # The package starts a system-wide service; tests run their own Redis on a free port.
  if command -v systemctl >/dev/null; then systemctl disable --now redis-server >/dev/null 2>&1 || true; fi
  command -v redis-server >/dev/null || { log "redis-server is still missing after apt-get install"; exit 1; }
}

complete() {
  [[ -x "$BIN_DIR/argocd" && -x "$BIN_DIR/git-verify-wrapper.sh" && -f "$BIN_DIR/crds/application-crd.yaml" && -f "$BIN_DIR/crds/appproject-crd.yaml" ]] || return 1
  local c; for c in "${COMPONENTS[@]}"; do [[ -L "$BIN_DIR/$c" ]] || return 1; done
}

ensure_redis
if complete; then echo "$BIN_DIR"; exit 0; fi

mkdir -p "$BIN_DIR" "$SRC_DIR/cmd"
export GOFLAGS="-mod=mod -buildvcs=false" GOTOOLCHAIN=local

# First-build times on 2 idle cores: about 3 minutes for the trimmed main, with its modules.
progress_plan argocd-bins "$CACHE_ROOT/logs/argocd-bins.log" \
  "resolve Argo CD $ARGOCD_VERSION's modules (go mod tidy):60" \
  "build Argo CD $ARGOCD_VERSION (application controller, repo server, CMP server):120"
if [[ ! -f "$SRC_DIR/go.sum" ]]; then
  gomod=$(gomod_path "github.com/argoproj/argo-cd/v3@$ARGOCD_VERSION" "$SRC_DIR")
  {
    echo "module local/argocd-build"
    echo
    echo "go $(sed -n 's/^go \([0-9.]*\)$/\1/p' "$gomod")"
    echo
    echo "require github.com/argoproj/argo-cd/v3 $ARGOCD_VERSION"
    echo
    # argo-cd's own replace block (protobuf, grpc-gateway, x/tools, yaml.v2, k8s.io/*), which a
    # dependent module does not inherit, minus the local gitops-engine folder.
    echo "replace ("
    sed -n '/^replace (/,/^)/p' "$gomod" | grep -E '^[[:space:]]*[^/[:space:]][^ ]* => ' | grep -v '=> \./'
    echo "	github.com/argoproj/argo-cd/gitops-engine => github.com/argoproj/argo-cd/gitops-engine $GITOPS_ENGINE_VERSION"
    echo ")"
  } >"$SRC_DIR/go.mod"
fi

# Only the components a GitOps sync needs: the full upstream main also links the API server, Dex,
# notifications and the CLI (two more minutes of build, a bigger binary).
cat >"$SRC_DIR/cmd/main.go" <<'GO'
// Command argocd runs one Argo CD component, chosen by the name it is called by (or
// ARGOCD_BINARY_NAME), as Argo CD's own multi-call binary does.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"k8s.io/klog/v2"

	appcontroller "github.com/argoproj/argo-cd/v3/cmd/argocd-application-controller/commands"
	cmpserver "github.com/argoproj/argo-cd/v3/cmd/argocd-cmp-server/commands"
	gitaskpass "github.com/argoproj/argo-cd/v3/cmd/argocd-git-ask-pass/commands"
	reposerver "github.com/argoproj/argo-cd/v3/cmd/argocd-repo-server/commands"
	"github.com/argoproj/argo-cd/v3/common"
	"github.com/argoproj/argo-cd/v3/util/log"
)

func init() {
	klog.SetLogger(log.NewLogrusLogger(log.NewWithCurrentConfig()))
}

func main() {
	name := filepath.Base(os.Args[0])
	if v := os.Getenv("ARGOCD_BINARY_NAME"); v != "" {
		name = v
	}
	var command *cobra.Command
	switch name {
	case common.CommandApplicationController:
		command = appcontroller.NewCommand()
	case common.CommandRepoServer:
		command = reposerver.NewCommand()
	case common.CommandCMPServer:
		command = cmpserver.NewCommand()
	case common.CommandGitAskPass:
		command = gitaskpass.NewCommand()
	default:
		fmt.Fprintf(os.Stderr, "%s: call as %s, %s, %s or %s (a link of that name, or ARGOCD_BINARY_NAME)\n", name,
			common.CommandApplicationController, common.CommandRepoServer, common.CommandCMPServer, common.CommandGitAskPass)
		os.Exit(2)
	}
	if err := command.Execute(); err != nil {
		os.Exit(1)
	}
}
GO

progress_step bash -c 'cd "$1" && go mod tidy' _ "$SRC_DIR"
pkgcommon=github.com/argoproj/argo-cd/v3/common
ldflags="-s -w -X $pkgcommon.version=${ARGOCD_VERSION#v}"
# Building into a temporary name and renaming makes a killed build leave no half binary behind.
progress_step bash -c 'cd "$1" && CGO_ENABLED=0 go build -trimpath -ldflags "$2" -o "$3/.argocd.tmp" ./cmd' _ "$SRC_DIR" "$ldflags" "$BIN_DIR"
mv "$BIN_DIR/.argocd.tmp" "$BIN_DIR/argocd"

src=$(cd "$SRC_DIR" && go list -m -f '{{.Dir}}' github.com/argoproj/argo-cd/v3)
mkdir -p "$BIN_DIR/crds"
for f in application-crd.yaml appproject-crd.yaml; do
  install -m 0644 "$src/manifests/crds/$f" "$BIN_DIR/crds/.$f.tmp" && mv "$BIN_DIR/crds/.$f.tmp" "$BIN_DIR/crds/$f"
done
install -m 0755 "$src/hack/git-verify-wrapper.sh" "$BIN_DIR/.git-verify-wrapper.sh.tmp"
mv "$BIN_DIR/.git-verify-wrapper.sh.tmp" "$BIN_DIR/git-verify-wrapper.sh"
for c in "${COMPONENTS[@]}"; do ln -sfn argocd "$BIN_DIR/$c"; done

echo "$BIN_DIR"

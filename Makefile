# Hourglass GitOps: the Performer controller, the AVS executor KRM function and their deployment assets.

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec
export GOTOOLCHAIN := local
export GOFLAGS := -buildvcs=false

IMG ?= ghcr.io/hourglass-gitops/performer-controller:dev
FN_IMG ?= ghcr.io/hourglass-gitops/avs-executor-fn:dev
CONTAINER_TOOL ?= docker

CONTROLLER_GEN = $(shell hack/tools.sh controller-gen)
KUSTOMIZE = $(shell hack/tools.sh kustomize)

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: ## Generate the Performer CRD, the function config schema and the controller RBAC.
	$(CONTROLLER_GEN) crd paths=./api/v1alpha1/... output:crd:artifacts:config=base/crd
	$(CONTROLLER_GEN) rbac:roleName=hourglass-controller paths=./controller/... output:rbac:artifacts:config=base/rbac

.PHONY: generate
generate: manifests ## Generate deepcopy code, CRD and RBAC.
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths=./api/...

.PHONY: verify-generate
verify-generate: generate ## Fail when generated files are stale.
	@git diff --exit-code -- api base/crd base/rbac || { echo "generated files are stale: run 'make generate' and commit" >&2; exit 1; }
	@test -z "$$(git status --porcelain -- api base/crd base/rbac)" || { git status --porcelain -- api base/crd base/rbac; echo "untracked generated files: run 'make generate' and commit" >&2; exit 1; }

.PHONY: fmt
fmt: ## Run gofmt.
	gofmt -l -w $$(git ls-files '*.go')

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

##@ Build

.PHONY: build
build: ## Build the controller and the function into bin/.
	CGO_ENABLED=0 go build -trimpath -o bin/hourglass-controller ./controller
	CGO_ENABLED=0 go build -trimpath -o bin/avs-executor-fn ./functions

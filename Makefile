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
	go run ./hack/crdbounds base/crd/hourglass.eigenlayer.io_performers.yaml
	$(CONTROLLER_GEN) crd paths=./api/fn/... output:crd:artifacts:config=functions/schema
	go run ./functions/schema/gen -dir functions/schema
	$(CONTROLLER_GEN) rbac:roleName=hourglass-controller paths=./controller/... output:rbac:artifacts:config=base/rbac

.PHONY: generate
generate: manifests ## Generate deepcopy code, CRD and RBAC.
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths=./api/...

.PHONY: verify-generate
verify-generate: generate ## Fail when generated files are stale.
	@git diff --exit-code -- api base/crd base/rbac functions/schema || { echo "generated files are stale: run 'make generate' and commit" >&2; exit 1; }
	@test -z "$$(git status --porcelain -- api base/crd base/rbac functions/schema)" || { git status --porcelain -- api base/crd base/rbac functions/schema; echo "untracked generated files: run 'make generate' and commit" >&2; exit 1; }

.PHONY: fmt
fmt: ## Run gofmt.
	gofmt -l -w $$(git ls-files '*.go')

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: lint
lint: vet ## Fail when gofmt would change a file, or go vet finds a problem.
	@bad=$$(gofmt -l $$(git ls-files -co --exclude-standard '*.go')); \
	if [ -n "$$bad" ]; then echo "gofmt would change: $$bad (run 'make fmt')" >&2; exit 1; fi

.PHONY: test
test: test-go test-images test-e2e test-quickstart test-migrate test-argocd test-faults test-node ## Run every test: unit, envtest integration, images under podman, end-to-end with the real Flux and Argo CD, faults, a real node (root).

.PHONY: test-go
test-go: ## Run the unit and envtest integration tests (etcd, kube-apiserver and promtool are built once, then cached).
	@assets=$$(hack/control-plane-bins.sh --envtest); \
	promtool=$$(hack/promtool.sh); \
	echo "KUBEBUILDER_ASSETS=$$assets PROMTOOL=$$promtool"; \
	KUBEBUILDER_ASSETS="$$assets" PROMTOOL="$$promtool" go test ./...

.PHONY: test-images
test-images: images ## The images under podman (installed when missing): --help, --version, every example through kpt and kustomize with the function image.
	hack/podman/podman.sh info >/dev/null
	HOURGLASS_IMAGES=$(abspath $(IMAGES_DIR)) go test ./test/images/ -count=1 -v -parallel 4 -timeout 15m

.PHONY: test-faults
test-faults: ## Fault tests on a local cluster of their own: kill -9 mid-burst, API server and etcd crashes, leader takeover, drift.
	HOURGLASS_E2E=1 go test ./test/faults/ -count=1 -v -timeout 15m

##@ Build

.PHONY: build
build: ## Build the controller and the function into bin/.
	CGO_ENABLED=0 go build -trimpath -ldflags "$(LDFLAGS)" -o bin/hourglass-controller ./controller
	CGO_ENABLED=0 go build -trimpath -ldflags "$(LDFLAGS)" -o bin/avs-executor-fn ./functions

.PHONY: build-fn
build-fn: ## Build the KRM function into bin/avs-executor-fn, where the examples' exec paths point, and link kustomize into bin/.
	CGO_ENABLED=0 go build -trimpath -ldflags "$(LDFLAGS)" -o bin/avs-executor-fn ./functions
	@hack/tools.sh kustomize >/dev/null

FN_EXAMPLES ?= basic gpu tee-sgx tee-sev-snp bottlerocket multi-avs custom-profile

.PHONY: render
render: build-fn ## Render the function examples with the kustomize CLI into _output/<example>.yaml.
	@mkdir -p _output
	@for e in $(FN_EXAMPLES); do \
	  start=$$(date +%s%N); \
	  $(KUSTOMIZE) build --enable-alpha-plugins --enable-exec examples/$$e > _output/$$e.yaml; \
	  echo "_output/$$e.yaml  $$(grep -c '^kind:' _output/$$e.yaml) objects  $$(( ($$(date +%s%N) - start) / 1000000 )) ms"; \
	done

.PHONY: run
run: ## Run the controller against the cluster of the current kubeconfig (ARGS adds flags).
	go run ./controller --metrics-bind-address=:8080 --health-probe-bind-address=:8081 $(ARGS)

# The release version, set in one place: the VERSION file (make set-version V=... rewrites it and
# every file that repeats it).
VERSION ?= $(shell cat VERSION)
LDFLAGS = -X github.com/hourglass-gitops/hourglass-gitops/api/version.Version=$(VERSION) \
  -X github.com/hourglass-gitops/hourglass-gitops/api/version.Revision=$(shell git rev-parse --short HEAD 2>/dev/null)
IMAGES_DIR ?= _output/images

.PHONY: images
images: ## Build the images (controller, function, sample performer) as OCI layouts in _output/images/<name>/ and archives <name>.tar; no container engine or registry needed.
	@test -f /etc/ssl/certs/ca-certificates.crt || { [ "$$(id -u)" = 0 ] && apt-get install -y --no-install-recommends ca-certificates >&2; } || \
	  { echo "images: /etc/ssl/certs/ca-certificates.crt is missing: install Debian's ca-certificates" >&2; exit 1; }
	go run ./hack/images --out $(IMAGES_DIR) --version $(VERSION) $(IMAGES_ARGS)

.PHONY: docker-build
docker-build: ## Build the controller (IMG) and function (FN_IMG) images from the Dockerfiles with CONTAINER_TOOL (pulls golang and distroless); fails without an engine.
	@if ! $(CONTAINER_TOOL) info >/dev/null 2>&1; then \
	  echo "docker-build: no container engine: '$(CONTAINER_TOOL) info' failed (CONTAINER_TOOL=podman selects podman). Without an engine or a registry, 'make images' builds the same images as OCI layouts." >&2; \
	  exit 1; \
	fi; \
	set -x; \
	$(CONTAINER_TOOL) build -t $(IMG) -f Dockerfile .; \
	$(CONTAINER_TOOL) build -t $(FN_IMG) -f krm-fn.Dockerfile .

.PHONY: docker-push
docker-push: ## Push the controller (IMG) and function (FN_IMG) images.
	@$(CONTAINER_TOOL) info >/dev/null 2>&1 || { echo "docker-push: no container engine ('$(CONTAINER_TOOL) info' failed)" >&2; exit 1; }
	$(CONTAINER_TOOL) push $(IMG)
	$(CONTAINER_TOOL) push $(FN_IMG)

##@ Release

RELEASE_DIR ?= _output/release

.PHONY: check-version
check-version: ## Fail when a file that repeats VERSION (base/, the examples, the function's forwarder default) differs from it.
	go run ./hack/release check

.PHONY: set-version
set-version: ## Set the release version: make set-version V=v0.2.0 writes VERSION and every file that repeats it.
	@test -n "$(V)" || { echo "set-version: say which version: make set-version V=v0.2.0" >&2; exit 1; }
	go run ./hack/release set $(V)

.PHONY: release
release: ## Write the release of VERSION into _output/release/: images (OCI layouts), install.yaml, the function's metadata.yaml, the CHANGELOG entry.
	go run ./hack/release build -out $(RELEASE_DIR) -kustomize $(KUSTOMIZE)
	$(MAKE) images IMAGES_DIR=$(RELEASE_DIR)/images VERSION=$(VERSION)

##@ Deployment

OVERLAY ?= base
KUBECTL ?= kubectl

.PHONY: install
install: ## Install the Performer CRD into the cluster of the current kubeconfig.
	$(KUBECTL) apply --server-side -f base/crd

.PHONY: uninstall
uninstall: ## Remove the Performer CRD, and with it every Performer.
	$(KUBECTL) delete --ignore-not-found -f base/crd

.PHONY: deploy
deploy: ## Install the controller: base/, or OVERLAY=overlays/<name>, with the image IMG.
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	printf 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- %s\n' \
	  "$$(realpath --relative-to="$$tmp" "$(OVERLAY)")" >"$$tmp/kustomization.yaml"; \
	(cd "$$tmp" && $(KUSTOMIZE) edit set image ghcr.io/hourglass-gitops/performer-controller=$(IMG)); \
	$(KUSTOMIZE) build "$$tmp" | $(KUBECTL) apply --server-side -f -

.PHONY: undeploy
undeploy: ## Remove what deploy installed (OVERLAY as for deploy), the CRD and its Performers included.
	$(KUSTOMIZE) build $(OVERLAY) | $(KUBECTL) delete --ignore-not-found -f -

##@ Local cluster and demo

REAL_NODE ?= 0

.PHONY: cluster-up
cluster-up: ## Start a local control plane with KWOK nodes (no Docker); binaries are built once and cached. REAL_NODE=1 adds a real kubelet node (root; docs/real-node.md).
	HOURGLASS_REAL_NODE=$(REAL_NODE) hack/local-cluster.sh up

.PHONY: cluster-down
cluster-down: ## Stop the local control plane.
	hack/local-cluster.sh down

.PHONY: flux-bins
flux-bins: ## Build Flux's source-controller and kustomize-controller once (cached in ~/.cache/hourglass-gitops).
	hack/flux-bins.sh

.PHONY: demo
demo: flux-bins ## Local cluster, Flux and Argo CD syncing the examples from a Git server on loopback, the controller; what each engine reports. As root, examples/basic runs on a real node (containerd installed when missing) and one task goes through it (HOURGLASS_DEMO_NODE=kwok: KWOK only).
	@[ "$$(id -u)" != 0 ] || [ "$${HOURGLASS_DEMO_NODE:-}" = kwok ] || hack/local-cluster.sh node-deps || \
		echo "demo: the real node's packages could not be installed; KWOK nodes only" >&2
	go run ./hack/demo

.PHONY: demo-down
demo-down: ## Stop the demo: its controller, Flux, Argo CD, its Git server and its cluster.
	hack/local-cluster.sh down

N ?= 200

.PHONY: bench
bench: ## Controller vs the cluster's raw bound at N Performers (N=200), the function vs a no-op function, the forwarder vs direct calls and socat.
	@command -v socat >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		{ apt-get install -y -q socat >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q socat >/dev/null; }; }; } || \
		echo "bench: socat could not be installed; the forwarder is compared with direct calls only" >&2
	go run ./hack/bench -n $(N) $(BENCH_ARGS)

.PHONY: argocd-bins
argocd-bins: ## Build Argo CD's application controller, repo server and CMP server (cached) and install Redis if missing.
	hack/argocd-bins.sh

.PHONY: test-argocd
test-argocd: ## The real Argo CD with the plugin of examples/argocd on a local cluster of its own (a few minutes once built).
	HOURGLASS_E2E=1 go test ./test/argocd/ -count=1 -v -timeout 20m

.PHONY: test-quickstart
test-quickstart: ## Run docs/quickstart.md's commands as written against a local cluster of its own, its pods on the real node (root; about a minute once built).
	hack/control-plane-bins.sh --node >/dev/null
	hack/local-cluster.sh node-deps
	HOURGLASS_E2E=1 go test ./test/quickstart/ -count=1 -v -timeout 15m

.PHONY: test-migrate
test-migrate: ## Run docs/migrate-from-upstream-operator.md's commands against a local cluster of its own, with the real helm (built once).
	hack/control-plane-bins.sh >/dev/null
	hack/tools.sh helm >/dev/null
	HOURGLASS_E2E=1 go test ./test/migrate/ -count=1 -v -timeout 15m

.PHONY: test-node
test-node: ## A real node (kubelet, containerd, kube-proxy, CoreDNS) beside the KWOK nodes on a local cluster of its own, examples/basic in real containers there (function image under podman); needs root.
	hack/control-plane-bins.sh --node >/dev/null
	hack/local-cluster.sh node-deps
	HOURGLASS_E2E=1 go test ./test/node/ -count=1 -v -timeout 15m

.PHONY: test-e2e
test-e2e: flux-bins ## End-to-end, Flux and executor pair tests, each on a local cluster of its own.
	hack/control-plane-bins.sh >/dev/null
	HOURGLASS_E2E=1 go test ./test/e2e/ ./test/flux/ ./test/executor/ -p 1 -count=1 -v -timeout 25m

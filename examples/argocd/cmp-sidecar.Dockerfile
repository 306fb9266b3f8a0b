# The Argo CD plugin sidecar: the AVS executor function and the kustomize it renders with
# (`avs-executor-fn render`, see cmp-plugin.yaml). Build from the repository root:
#   docker build -f examples/argocd/cmp-sidecar.Dockerfile -t ghcr.io/hourglass-gitops/argocd-cmp:dev .
ARG GO_VERSION=1.26.8
ARG KUSTOMIZE_VERSION=v5.8.1

FROM golang:${GO_VERSION} AS build
ARG KUSTOMIZE_VERSION
ENV GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-buildvcs=false
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY api/ api/
COPY controller/ controller/
COPY functions/ functions/
RUN go build -trimpath -ldflags="-s -w" -o /out/avs-executor-fn ./functions
RUN GOBIN=/out go install sigs.k8s.io/kustomize/kustomize/v5@${KUSTOMIZE_VERSION}

FROM alpine:3.22
COPY --from=build /out/avs-executor-fn /out/kustomize /usr/local/bin/
# Argo CD runs plugin sidecars as its own user.
USER 999

# The avs-executor KRM function image, for the `image:` form of kustomize and kpt:
#   docker build -t ghcr.io/hourglass-gitops/avs-executor-fn:dev -f krm-fn.Dockerfile .
# A static binary on distroless, running as non-root. It takes no arguments: kustomize and kpt
# hand it a ResourceList on stdin and read one from stdout.
ARG GO_VERSION=1.26.8

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
ARG TARGETOS=linux
ARG TARGETARCH=amd64
WORKDIR /src
ENV GOTOOLCHAIN=local GOFLAGS=-buildvcs=false
# Dependencies first: this layer is reused until go.mod or go.sum change.
COPY go.mod go.sum ./
RUN go mod download
# The function, its API types and the hardware mapping it shares with the controller.
COPY api/ api/
COPY functions/ functions/
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags="-s -w" -o /out/avs-executor-fn ./functions

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/avs-executor-fn /avs-executor-fn
USER 65532:65532
ENTRYPOINT ["/avs-executor-fn"]

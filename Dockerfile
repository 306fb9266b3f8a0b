# The Performer controller image: static binaries on distroless, running as non-root.
#   docker build -t ghcr.io/hourglass-gitops/performer-controller:dev .
# It also carries /performer-forwarder, which the AVS executor function renders as a sidecar of
# every executor pod (same image, command /performer-forwarder): no third-party image is needed.
ARG GO_VERSION=1.26.8

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
ARG TARGETOS=linux
ARG TARGETARCH=amd64
WORKDIR /src
ENV GOTOOLCHAIN=local GOFLAGS=-buildvcs=false
# Dependencies first: this layer is reused until go.mod or go.sum change.
COPY go.mod go.sum ./
RUN go mod download
COPY api/ api/
COPY controller/ controller/
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags="-s -w" -o /out/hourglass-controller ./controller
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags="-s -w" -o /out/performer-forwarder ./controller/cmd/performer-forwarder

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/hourglass-controller /hourglass-controller
COPY --from=build /out/performer-forwarder /performer-forwarder
USER 65532:65532
ENTRYPOINT ["/hourglass-controller"]

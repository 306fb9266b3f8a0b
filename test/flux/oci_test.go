package flux

import (
	"context"
	"io"
	"log"
	"net/http/httptest"
	"strings"

	"github.com/fluxcd/pkg/oci"
	"github.com/google/go-containerregistry/pkg/crane"
	"github.com/google/go-containerregistry/pkg/registry"
)

// registryServer is an OCI registry in this process, on loopback, over plain HTTP.
type registryServer struct {
	*httptest.Server
	Host string // 127.0.0.1:PORT
}

func startRegistry() (*registryServer, error) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	return &registryServer{Server: srv, Host: strings.TrimPrefix(srv.URL, "http://")}, nil
}

// pushArtifact does what `flux push artifact oci://<repo>:<tag> --path=<dir> --source=<source>
// --revision=<revision>` followed by `flux tag artifact ... --tag latest` does (the CI workflow of
// examples/flux/ci/render-and-push.yaml), with Flux's own OCI client, and returns the digest.
func pushArtifact(ctx context.Context, repository, tag, dir, source, revision string) (string, error) {
	c := oci.NewClient(append(oci.DefaultOptions(), crane.Insecure))
	ref, err := c.Push(ctx, repository+":"+tag, dir, oci.WithPushMetadata(oci.Metadata{Source: source, Revision: revision}))
	if err != nil {
		return "", err
	}
	if _, err := c.Tag(ctx, ref, "latest"); err != nil {
		return "", err
	}
	return ref[strings.LastIndex(ref, "@")+1:], nil
}

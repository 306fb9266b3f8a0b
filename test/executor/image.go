package executor

import (
	"context"
	"fmt"
	"os"
	"os/exec"

	"github.com/hourglass-gitops/hourglass-gitops/test/framework/node"
)

// ImageBinary is where the stand-in's image holds it: where the released executor image has its
// binary (ponos/Dockerfile), so the rendered StatefulSet's command `executor run --config ...`
// finds it on PATH.
const ImageBinary = "/usr/local/bin/executor"

// WriteImage builds cmd/standin-executor as a static binary at bin and writes an image of it,
// named ref, as an OCI layout in dir: user 65532 and no shell, as distroless images are.
func WriteImage(ctx context.Context, root, bin, dir, ref string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "./test/executor/cmd/standin-executor")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOTOOLCHAIN=local", "GOFLAGS=-buildvcs=false")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building the stand-in executor: %w\n%s", err, b)
	}
	return node.Image{Ref: ref, Files: map[string]string{ImageBinary: bin}, Entrypoint: []string{ImageBinary},
		User: "65532:65532", Path: "/usr/local/bin"}.WriteLayout(dir)
}

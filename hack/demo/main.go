// Command demo shows the whole flow on one machine, without Docker: a local control plane with
// simulated GPU, SGX, SEV-SNP, TDX and Bottlerocket nodes; the controller installed from base/;
// every example rendered by the KRM function with the kustomize CLI and applied the way Flux
// applies a Kustomization (staged server-side apply, then a kstatus wait); and where each performer
// landed. The cluster and the controller keep running afterwards; `make demo-down` stops them.
//
//	go run ./hack/demo        (make demo)
//
// HOURGLASS_CLUSTER_DIR sets the cluster's state folder (default .local/cluster).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/hourglass-gitops/hourglass-gitops/test/localcluster"
)

func main() {
	// The clients log through controller-runtime; errors surface as returned errors.
	ctrllog.SetLogger(logr.Discard())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "\ndemo failed: %v\n", err)
		os.Exit(1)
	}
}

type phases struct{ start time.Time }

func (p *phases) do(name string, f func() error) error {
	fmt.Printf("\n==> %s\n", name)
	t := time.Now()
	if err := f(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	fmt.Printf("    done in %.1fs (total %.1fs)\n", time.Since(t).Seconds(), time.Since(p.start).Seconds())
	return nil
}

func run(ctx context.Context) error {
	root, err := localcluster.Root()
	if err != nil {
		return err
	}
	dir := os.Getenv("HOURGLASS_CLUSTER_DIR")
	if dir == "" {
		dir = filepath.Join(root, ".local", "cluster")
	}
	p := &phases{start: time.Now()}
	var c *localcluster.Cluster
	var examples []localcluster.Example

	steps := []struct {
		name string
		f    func() error
	}{
		{"local control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, KWOK nodes)", func() (err error) {
			c, err = localcluster.Up(ctx, root, dir, os.Stdout)
			return err
		}},
		{"install base/ (CRD, RBAC, controller Deployment) the way Flux applies it", func() error {
			if err := c.InstallController(ctx); err != nil {
				return err
			}
			fmt.Println("    KWOK pods run no containers: the controller Deployment is applied and becomes Available,")
			fmt.Println("    then is scaled to 0; the controller runs locally as the hourglass-operator ServiceAccount.")
			return nil
		}},
		{"controller (local process, ServiceAccount token, leader election)", func() error {
			if err := c.StartController(ctx); err != nil {
				return err
			}
			fmt.Printf("    log: %s\n", filepath.Join(dir, "logs", "hourglass-controller.log"))
			return nil
		}},
		{"KRM function (go build ./functions)", func() error {
			return localcluster.BuildFunction(ctx, root, os.Stdout)
		}},
		{"render the examples (kustomize build --enable-alpha-plugins --enable-exec)", func() (err error) {
			examples, err = localcluster.RenderExamples(ctx, root, filepath.Join(dir, "rendered"))
			for _, e := range examples {
				fmt.Printf("    %-22s %3d objects -> %s\n", e.Name, len(e.Objects), e.File)
			}
			return err
		}},
		{"apply the examples the Flux way (staged server-side apply, kstatus wait)", func() error {
			return c.ApplyExamples(ctx, examples, os.Stdout)
		}},
	}
	for _, s := range steps {
		if err := p.do(s.name, s.f); err != nil {
			return err
		}
	}

	fmt.Println("\n$ kubectl get performers -A")
	out, err := c.Kubectl(ctx, "get", "performers", "-A")
	if err != nil {
		return err
	}
	fmt.Print(out)
	fmt.Println("\n$ kubectl get statefulsets -A   (the executors)")
	if out, err = c.Kubectl(ctx, "get", "statefulsets", "-A", "-o", "wide"); err != nil {
		return err
	}
	fmt.Print(out)
	fmt.Println("\nWhere each performer runs:")
	table, err := c.Placements(ctx)
	if err != nil {
		return err
	}
	fmt.Print(table)

	fmt.Printf("\nDemo ready in %.1fs. The cluster and the controller keep running:\n", time.Since(p.start).Seconds())
	fmt.Printf("  export KUBECONFIG=%s\n", c.Kubeconfig)
	fmt.Println("  kubectl get performers -n my-avs-project")
	fmt.Println("  make demo-down    # stop everything")
	return nil
}

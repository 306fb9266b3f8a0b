// Command demo shows the whole flow on one machine, without Docker, the GitOps way: a local control
// plane with simulated GPU, SGX, SEV-SNP, TDX and Bottlerocket nodes; Flux's source-controller and
// kustomize-controller (built from source by hack/flux-bins.sh); a Git server on loopback holding
// the operator's release and a GitOps repository whose executors/ the KRM function rendered into
// rendered/, as CI does; the Flux objects of examples/flux pointed at it; and what Flux then
// reports, and where each performer landed. Everything keeps running afterwards, so commits to the
// GitOps repository keep syncing; `make demo-down` stops it all.
//
//	go run ./hack/demo        (make demo)
//
// HOURGLASS_CLUSTER_DIR sets the state folder (default .local/cluster).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/hourglass-gitops/hourglass-gitops/hack/local/cluster"
	"github.com/hourglass-gitops/hourglass-gitops/hack/local/flux"
	"github.com/hourglass-gitops/hourglass-gitops/hack/local/gitops"
	"github.com/hourglass-gitops/hourglass-gitops/hack/local/repo"
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

// phase is one step of the demo; each prints its name and how long it took.
type phase struct {
	name string
	run  func(ctx context.Context) error
}

func run(ctx context.Context) error {
	root, err := repo.Root()
	if err != nil {
		return err
	}
	dir := os.Getenv("HOURGLASS_CLUSTER_DIR")
	if dir == "" {
		dir = filepath.Join(root, ".local", "cluster")
	}
	e := &gitops.Env{Root: root, Dir: dir, Out: os.Stdout}
	examples, err := cluster.Examples(root)
	if err != nil {
		return err
	}
	var names []string
	for _, ex := range examples {
		names = append(names, filepath.Base(ex))
	}
	var revision string

	phases := []phase{
		{"local control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, KWOK nodes)", func(ctx context.Context) error {
			return e.ClusterUp(ctx, true)
		}},
		{"Flux: source-controller and kustomize-controller (hack/flux-bins.sh), CRDs", func(ctx context.Context) error {
			if err := e.StartFlux(ctx); err != nil {
				return err
			}
			fmt.Printf("    logs: %s\n", filepath.Join(dir, "logs", "{source,kustomize}-controller.log"))
			return nil
		}},
		{"KRM function (go build ./functions)", func(ctx context.Context) error {
			return cluster.BuildFunction(ctx, root, os.Stdout)
		}},
		{"Git server on loopback: the operator's release and the GitOps repository, rendered as CI does", func(ctx context.Context) (err error) {
			if err := e.StartGit(ctx, true); err != nil {
				return err
			}
			if revision, err = e.PublishRepos(ctx, names); err != nil {
				return err
			}
			fmt.Printf("    %s  executors/ %v rendered into rendered/, %s\n", e.Executors.URL, names, revision)
			return nil
		}},
		{"kubectl apply -f examples/flux/operator.yaml -f examples/flux/git/avs-executors.yaml (URLs pointed at loopback)", e.ApplyExamples},
		{"controller (local process as the hourglass-operator ServiceAccount, once Flux has created it: KWOK pods run nothing)", func(ctx context.Context) error {
			if err := e.StartController(ctx); err != nil {
				return err
			}
			fmt.Printf("    log: %s\n", filepath.Join(dir, "logs", "hourglass-controller.log"))
			return nil
		}},
		{"Flux installs the operator (Kustomization hourglass-operator: overlays/production)", func(ctx context.Context) error {
			s, err := e.WaitReady(ctx, gitops.OperatorKustomization, "", 3*time.Minute)
			fmt.Printf("    %s\n", s)
			return err
		}},
		{"Flux applies rendered/ and waits until every Performer is Ready (Kustomization avs-executors)", func(ctx context.Context) error {
			s, err := e.WaitReady(ctx, gitops.ExecutorsKustomization, revision, 5*time.Minute)
			fmt.Printf("    %s\n", s)
			return err
		}},
	}
	start := time.Now()
	for _, p := range phases {
		fmt.Printf("\n==> %s\n", p.name)
		t := time.Now()
		if err := p.run(ctx); err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
		fmt.Printf("    done in %.1fs (total %.1fs)\n", time.Since(t).Seconds(), time.Since(start).Seconds())
	}

	for _, args := range [][]string{
		{"get", "gitrepositories,kustomizations", "-n", flux.Namespace},
		{"get", "performers", "-A"},
		{"get", "statefulsets", "-A"},
	} {
		fmt.Printf("\n$ kubectl %s\n", strings.Join(args, " "))
		out, err := e.Cluster.Kubectl(ctx, args...)
		if err != nil {
			return err
		}
		fmt.Print(out)
	}
	fmt.Println("\nWhere each performer runs:")
	table, err := e.Cluster.Placements(ctx)
	if err != nil {
		return err
	}
	fmt.Print(table)

	fmt.Printf("\nDemo ready in %.1fs. The cluster, Flux, the Git server and the controller keep running:\n", time.Since(start).Seconds())
	fmt.Printf("  export KUBECONFIG=%s\n", e.Cluster.Kubeconfig)
	fmt.Println("  kubectl get kustomizations,gitrepositories -A")
	fmt.Println("  kubectl describe kustomization avs-executors -n flux-system")
	fmt.Println("  kubectl get performers -A")
	fmt.Printf("  cd %s && edit executors/*/executor.yaml, render and commit: see README.md\n", e.Executors.Repo.Work)
	fmt.Println("  make demo-down    # stop everything")
	return nil
}

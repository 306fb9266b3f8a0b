package gitops

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/hourglass-gitops/hourglass-gitops/test/framework/cluster"
	"github.com/hourglass-gitops/hourglass-gitops/test/framework/flux"
	"github.com/hourglass-gitops/hourglass-gitops/test/framework/gitserver"
	"github.com/hourglass-gitops/hourglass-gitops/test/framework/process"
)

// The repositories, named as the sources of examples/flux name them.
const (
	OperatorRepo  = "hourglass-gitops" // examples/flux/operator.yaml
	ExecutorsRepo = "avs-gitops"       // examples/flux/git/avs-executors.yaml
)

// The Kustomizations of examples/flux.
const (
	OperatorKustomization  = "hourglass-operator"
	ExecutorsKustomization = "avs-executors"
)

// SourceInterval replaces the sources' intervals of examples/flux, so that a commit lands within
// seconds even without a reconcile request.
const SourceInterval = "10s"

// Env is the product run the GitOps way on a local cluster: Flux's controllers, a Git server on
// loopback with the operator's release and the user's GitOps repository, and the Flux objects of
// examples/flux pointed at it. Each method is one phase of the demo or of a test.
type Env struct {
	Root string
	// Dir is the cluster's state folder; Flux's and the Git server's logs go to Dir/logs.
	Dir string
	Out io.Writer
	// RealNode makes ClusterUp add the real node (docs/real-node.md).
	RealNode bool
	// EditExecutors, when set, changes the GitOps repository's work tree (executors/<example>/)
	// before PublishRepos renders and commits it.
	EditExecutors func(work string) error

	Cluster   *cluster.Cluster
	Client    client.Client
	Flux      *flux.Controllers
	Executors *Executors

	gitURL  func(name string) string
	gitAddr string
	git     *gitserver.Server // in-process server (tests)
	gitProc *cluster.Process  // detached server (demo)
}

// ClusterUp starts the local control plane, after stopping whatever an earlier run left in Dir.
func (e *Env) ClusterUp(ctx context.Context, fresh bool) (err error) {
	if fresh {
		if err := cluster.Down(e.Root, e.Dir, e.Out); err != nil {
			return err
		}
	}
	if e.Cluster, err = cluster.UpWith(ctx, e.Root, e.Dir, e.Out, cluster.Options{RealNode: e.RealNode}); err != nil {
		return err
	}
	e.Client, err = client.New(e.Cluster.Config, client.Options{})
	return err
}

// StartFlux builds Flux's controllers once, installs their CRDs and starts them.
func (e *Env) StartFlux(ctx context.Context) error {
	bin, err := process.CachedBins(ctx, e.Root, "flux-bins.sh", e.Out)
	if err != nil {
		return err
	}
	if err := flux.Install(ctx, e.Cluster, bin); err != nil {
		return err
	}
	e.Flux, err = flux.Start(ctx, e.Cluster, bin)
	return err
}

// StartGit serves Git repositories from Dir/git on loopback: in this process, or detached (its
// own binary, stopped by hack/local-cluster.sh down) when it must outlive the caller.
func (e *Env) StartGit(ctx context.Context, detached bool) error {
	dir := filepath.Join(e.Dir, "git", "served")
	if err := os.RemoveAll(filepath.Join(e.Dir, "git")); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if !detached {
		s, err := gitserver.Start(dir)
		if err != nil {
			return err
		}
		e.git, e.gitURL = s, s.URL
		return nil
	}
	bin := filepath.Join(e.Dir, "bin", "gitserver")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./hack/gitserver")
	build.Dir = e.Root
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOTOOLCHAIN=local", "GOFLAGS=-buildvcs=false")
	build.Stdout, build.Stderr = e.Out, e.Out
	if err := build.Run(); err != nil {
		return fmt.Errorf("building hack/gitserver: %w", err)
	}
	ports, err := cluster.FreePorts(1)
	if err != nil {
		return err
	}
	addr := "127.0.0.1:" + strconv.Itoa(ports[0])
	if e.gitProc, err = e.Cluster.Start(ctx, "gitserver", bin, []string{dir, addr}, nil, ""); err != nil {
		return err
	}
	e.gitAddr = addr
	e.gitURL = gitserver.Elsewhere(dir, addr).URL
	return wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil, nil
	})
}

// PublishRepos pushes the operator's release and a GitOps repository with the named examples as
// executors/, rendered by the KRM function into rendered/ as CI does, and returns the commit's
// revision.
func (e *Env) PublishRepos(ctx context.Context, examples []string) (string, error) {
	srv, err := e.server()
	if err != nil {
		return "", err
	}
	if _, err := PublishOperator(ctx, srv, e.Root, filepath.Join(e.Dir, "git", "work", OperatorRepo), OperatorRepo); err != nil {
		return "", err
	}
	if e.Executors, err = NewExecutors(ctx, srv, e.Root, filepath.Join(e.Dir, "git", "work", ExecutorsRepo), ExecutorsRepo, examples); err != nil {
		return "", err
	}
	if e.EditExecutors != nil {
		if err := e.EditExecutors(e.Executors.Repo.Work); err != nil {
			return "", err
		}
	}
	if _, err := e.Executors.Render(ctx); err != nil {
		return "", err
	}
	return e.Executors.Commit(ctx, "Render the executors")
}

// server is a handle on the served folder for creating repositories; with a detached server the
// repositories are created on disk, which the detached process serves.
func (e *Env) server() (*gitserver.Server, error) {
	if e.git != nil {
		return e.git, nil
	}
	if e.gitURL == nil {
		return nil, fmt.Errorf("the Git server is not started")
	}
	return gitserver.Elsewhere(filepath.Join(e.Dir, "git", "served"), e.gitAddr), nil
}

// FluxObjects reads a file of examples/flux and points its sources at the local Git server (or
// at urls, by source name), with SourceInterval; OCIRepositories get insecure (plain HTTP) when
// insecure is set. Nothing else changes.
func (e *Env) FluxObjects(file string, urls map[string]string, insecure bool) ([]*unstructured.Unstructured, error) {
	objs, err := flux.ReadFile(filepath.Join(e.Root, "examples", "flux", file))
	if err != nil {
		return nil, err
	}
	for _, o := range objs {
		switch o.GetKind() {
		case flux.GitRepository.Kind, flux.OCIRepository.Kind:
		default:
			continue
		}
		url, ok := urls[o.GetName()]
		if !ok && e.gitURL != nil && o.GetKind() == flux.GitRepository.Kind {
			url, ok = e.gitURL(o.GetName()), true
		}
		if !ok {
			return nil, fmt.Errorf("examples/flux/%s: no local URL for %s %s", file, o.GetKind(), o.GetName())
		}
		if err := unstructured.SetNestedField(o.Object, url, "spec", "url"); err != nil {
			return nil, err
		}
		if err := unstructured.SetNestedField(o.Object, SourceInterval, "spec", "interval"); err != nil {
			return nil, err
		}
		if insecure && o.GetKind() == flux.OCIRepository.Kind {
			if err := unstructured.SetNestedField(o.Object, true, "spec", "insecure"); err != nil {
				return nil, err
			}
		}
	}
	return objs, nil
}

// ApplyExamples applies examples/flux/operator.yaml and examples/flux/git/avs-executors.yaml,
// pointed at the local Git server, in one go.
func (e *Env) ApplyExamples(ctx context.Context) error {
	var all []*unstructured.Unstructured
	for _, f := range []string{"operator.yaml", "git/avs-executors.yaml"} {
		objs, err := e.FluxObjects(f, nil, false)
		if err != nil {
			return err
		}
		all = append(all, objs...)
	}
	return flux.Apply(ctx, e.Client, all...)
}

// WaitReady waits until the Kustomization name is Ready for its generation, at revision when
// revision is set, and returns its status.
func (e *Env) WaitReady(ctx context.Context, name, revision string, timeout time.Duration) (flux.Status, error) {
	return flux.WaitFor(ctx, e.Client, flux.Kustomization, flux.Namespace, name, timeout, func(s flux.Status) bool {
		return s.IsReady() && (revision == "" || s.Revision == revision)
	})
}

// StartController starts the Performer controller as a local process once the operator's install
// has created its ServiceAccount.
func (e *Env) StartController(ctx context.Context) error {
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		var sa corev1.ServiceAccount
		return e.Client.Get(ctx, types.NamespacedName{Namespace: cluster.ControllerNamespace, Name: cluster.ControllerServiceAccount}, &sa) == nil, nil
	})
	if err != nil {
		return fmt.Errorf("the operator's install created no ServiceAccount %s/%s: %w", cluster.ControllerNamespace, cluster.ControllerServiceAccount, err)
	}
	return e.Cluster.StartController(ctx)
}

// Sync commits the work tree of the GitOps repository, asks Flux to fetch it at once, and returns
// the new revision.
func (e *Env) Sync(ctx context.Context, message string) (string, error) {
	rev, err := e.Executors.Commit(ctx, message)
	if err != nil {
		return "", err
	}
	_, err = flux.Reconcile(ctx, e.Client, flux.GitRepository, flux.Namespace, ExecutorsRepo)
	return rev, err
}

// Stop stops what this Env started in-process or as child processes it owns (the controller,
// Flux, the Git server); the cluster itself is stopped by cluster.Down.
func (e *Env) Stop() {
	if e.Cluster != nil {
		e.Cluster.StopController()
	}
	e.Flux.Stop()
	e.gitProc.Stop()
	if e.git != nil {
		_ = e.git.Close()
	}
}

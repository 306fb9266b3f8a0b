// Command demo shows the whole flow on one machine, without Docker, the GitOps way, with both
// engines the project ships for: a local control plane with simulated GPU, SGX, SEV-SNP, TDX and
// Bottlerocket nodes; Flux's source-controller and kustomize-controller (hack/flux-bins.sh) and
// Argo CD's application controller, repo server and config management plugin server
// (hack/argocd-bins.sh), all built from source; a Git server on loopback holding the operator's
// release and a GitOps repository. Flux installs the operator and applies what CI rendered of
// every example but examples/basic; Argo CD renders examples/basic itself through the plugin of
// examples/argocd. No object belongs to both. The demo prints what each engine reports and where
// each performer landed. Everything keeps running afterwards, so commits to the GitOps repository
// keep syncing; `make demo-down` stops it all.
//
// Argo CD's side starts in the background while Flux's phases run. When its binaries cannot be
// built or it does not start, the demo says so and Flux syncs examples/basic as well.
//
// When it can (root, containerd, runc, ctr, iptables: docs/real-node.md), the demo adds a real
// node and runs examples/basic there in real containers: its declaration pointed at the node and
// at local images (the stand-in executor, the sample performer, the controller image for the
// forwarder), synced by Argo CD as on KWOK nodes. It ends by sending
// one task to the executor pod and printing the round trip. Otherwise it says why and runs on
// KWOK nodes only; HOURGLASS_DEMO_NODE=kwok chooses that.
//
//	go run ./hack/demo        (make demo)
//
// HOURGLASS_CLUSTER_DIR sets the state folder (default .local/cluster).
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/hourglass-gitops/hourglass-gitops/test/framework/argocd"
	"github.com/hourglass-gitops/hourglass-gitops/test/framework/cluster"
	"github.com/hourglass-gitops/hourglass-gitops/test/framework/flux"
	"github.com/hourglass-gitops/hourglass-gitops/test/framework/gitops"
	"github.com/hourglass-gitops/hourglass-gitops/test/framework/process"
	"github.com/hourglass-gitops/hourglass-gitops/test/framework/realnode"
	"github.com/hourglass-gitops/hourglass-gitops/test/framework/repo"
)

// argoExample is the example Argo CD syncs, under the path the Application of
// examples/argocd/application.yaml names in the GitOps repository; with the real node its
// declaration is pointed at the node there.
const (
	argoExample = "basic"
	argoPath    = "executors/" + argocd.ExecutorApplication
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

// phase is one step of the demo; each prints its name and how long it took. The phases of
// alongside run at the same time as it; their output is printed when all are done.
type phase struct {
	name      string
	run       func(ctx context.Context, out io.Writer) error
	alongside []phase
}

// runPhase runs p and its alongside phases, and prints what they printed and how long each took.
func runPhase(ctx context.Context, p phase, start time.Time) error {
	fmt.Printf("\n==> %s\n", p.name)
	for _, q := range p.alongside {
		fmt.Printf("    alongside: %s\n", q.name)
	}
	t := time.Now()
	outs := make([]bytes.Buffer, len(p.alongside))
	errs := make([]error, len(p.alongside))
	took := make([]time.Duration, len(p.alongside))
	var wg sync.WaitGroup
	for i, q := range p.alongside {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.Now()
			if errs[i] = q.run(ctx, &outs[i]); errs[i] != nil {
				errs[i] = fmt.Errorf("%s: %w", q.name, errs[i])
			}
			took[i] = time.Since(t)
		}()
	}
	err := p.run(ctx, os.Stdout)
	if err != nil {
		err = fmt.Errorf("%s: %w", p.name, err)
	}
	wg.Wait()
	if len(p.alongside) > 0 {
		fmt.Printf("    %s: done in %.1fs\n", p.name, time.Since(t).Seconds())
	}
	for i, q := range p.alongside {
		fmt.Print(indent(outs[i].String()))
		fmt.Printf("    %s: done in %.1fs\n", q.name, took[i].Seconds())
	}
	if err := errors.Join(append([]error{err}, errs...)...); err != nil {
		return err
	}
	fmt.Printf("    done in %.1fs (total %.1fs)\n", time.Since(t).Seconds(), time.Since(start).Seconds())
	return nil
}

// background is Argo CD's start-up, run while Flux's phases go on: its output is kept and
// printed when the demo joins it.
type background struct {
	out     bytes.Buffer
	done    chan struct{}
	argo    *argocd.ArgoCD
	err     error
	started time.Time
	took    time.Duration
}

// tools are what Argo CD's components need, checked (or built) while the cluster starts.
type tools struct {
	bins, kustomize string
	err             error
}

// demo is one run of the demo: the environment both engines sync into and what the phases hand
// on to each other.
type demo struct {
	root, dir    string
	e            *gitops.Env
	examples     []string
	argoExample  string
	fluxExamples []string
	start        time.Time

	realNode bool   // examples/basic runs on the real node
	whyKWOK  string // why it does not
	images   *realnode.Images

	argo       *background
	toolsReady chan tools
	revision   string // what both engines must report at the end
	argoSynced chan error
	argoStatus argocd.Status
	argoTook   time.Duration // from the Application's apply to Synced and Healthy
}

func run(ctx context.Context) error {
	d, err := newDemo()
	if err != nil {
		return err
	}
	// Argo CD's binaries are checked (or built) from the start; the components start once the
	// cluster is up.
	go func() {
		var t tools
		if t.bins, t.err = process.CachedBins(ctx, d.root, "argocd-bins.sh", &d.argo.out); t.err == nil {
			t.kustomize, t.err = cluster.Kustomize(ctx, d.root)
		}
		d.toolsReady <- t
	}()
	for _, p := range d.phases() {
		if err := runPhase(ctx, p, d.start); err != nil {
			return err
		}
	}
	return d.report(ctx)
}

func newDemo() (*demo, error) {
	root, err := repo.Root()
	if err != nil {
		return nil, err
	}
	dir := os.Getenv("HOURGLASS_CLUSTER_DIR")
	if dir == "" {
		dir = filepath.Join(root, ".local", "cluster")
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return nil, err
	}
	examples, err := cluster.Examples(root)
	if err != nil {
		return nil, err
	}
	d := &demo{
		root: root, dir: dir, start: time.Now(),
		e:          &gitops.Env{Root: root, Dir: dir, Out: os.Stdout},
		argo:       &background{done: make(chan struct{})},
		toolsReady: make(chan tools, 1),
		argoSynced: make(chan error, 1),
	}
	for _, ex := range examples {
		d.examples = append(d.examples, filepath.Base(ex))
	}
	switch {
	case os.Getenv("HOURGLASS_DEMO_NODE") == "kwok":
		d.setNode(false, "HOURGLASS_DEMO_NODE=kwok")
	case realnode.Missing() != "":
		d.setNode(false, realnode.Missing())
	default:
		d.setNode(true, "")
	}
	return d, nil
}

// setNode chooses between the real node and KWOK nodes only, and which engine syncs which example.
func (d *demo) setNode(real bool, why string) {
	d.realNode, d.whyKWOK, d.e.RealNode = real, why, real
	d.argoExample = argoExample
	d.fluxExamples = nil
	for _, name := range d.examples {
		if name != d.argoExample {
			d.fluxExamples = append(d.fluxExamples, name)
		}
	}
}

// phases are the demo's steps, in order; some run others alongside.
func (d *demo) phases() []phase {
	e := d.e
	clusterName := "local control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, KWOK nodes)"
	alongside := []phase{
		{name: "KRM function (go build ./functions)", run: func(ctx context.Context, out io.Writer) error {
			return cluster.BuildFunction(ctx, d.root, out)
		}},
		{name: "controller (go build ./controller)", run: func(ctx context.Context, out io.Writer) error {
			return cluster.BuildController(ctx, d.root, d.dir, out)
		}},
	}
	var nodePhases []phase
	if d.realNode {
		clusterName = "local control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, KWOK nodes) and a real node (kubelet, containerd, kube-proxy, CoreDNS)"
		alongside = append(alongside, phase{name: "images for the real node (hack/images: controller, sample performer; the stand-in executor)",
			run: func(ctx context.Context, out io.Writer) (err error) {
				d.images, err = realnode.BuildImages(ctx, d.root, d.dir, false, out)
				return err
			}})
		nodePhases = []phase{{name: "real node: images into its containerd; namespace " + nodeNamespace + " and a throwaway operator key Secret",
			run: d.prepareNode}}
	} else {
		fmt.Printf("KWOK nodes only: %s. examples/basic runs on KWOK nodes (nothing runs in containers); docs/real-node.md says what the real node needs.\n", d.whyKWOK)
	}
	return append(append([]phase{
		{name: clusterName, run: d.clusterUp, alongside: alongside}}, nodePhases...), []phase{
		{name: "Flux: source-controller and kustomize-controller (hack/flux-bins.sh), CRDs",
			run: func(ctx context.Context, out io.Writer) error {
				if err := e.StartFlux(ctx); err != nil {
					return err
				}
				fmt.Fprintf(out, "    logs: %s\n", filepath.Join(d.dir, "logs", "{source,kustomize}-controller.log"))
				return nil
			},
			alongside: []phase{{name: "Git server on loopback: the operator's release and the GitOps repository, rendered as CI does",
				run: d.publish}}},
		{name: "kubectl apply -f examples/flux/operator.yaml -f examples/flux/git/avs-executors.yaml (URLs pointed at loopback)",
			run: func(ctx context.Context, _ io.Writer) error { return e.ApplyExamples(ctx) }},
		{name: "controller (local process as the hourglass-operator ServiceAccount, once Flux has created it: KWOK pods run nothing)",
			run: func(ctx context.Context, out io.Writer) error {
				if err := e.StartController(ctx); err != nil {
					return err
				}
				fmt.Fprintf(out, "    log: %s\n", filepath.Join(d.dir, "logs", "hourglass-controller.log"))
				return nil
			}},
		{name: "Flux installs the operator (Kustomization hourglass-operator: overlays/production)",
			run: func(ctx context.Context, out io.Writer) error {
				s, err := e.WaitReady(ctx, gitops.OperatorKustomization, "", 3*time.Minute)
				fmt.Fprintf(out, "    %s\n", s)
				return err
			}},
		{name: "Argo CD: the Application " + argocd.ExecutorApplication + " of examples/argocd/application.yaml (repoURL pointed at loopback)",
			run: d.applyApplication},
		{name: "Flux applies rendered/ and waits until every Performer is Ready (Kustomization avs-executors)",
			run: func(ctx context.Context, out io.Writer) error {
				s, err := e.WaitReady(ctx, gitops.ExecutorsKustomization, d.revision, 5*time.Minute)
				fmt.Fprintf(out, "    %s\n", s)
				return err
			}},
		{name: "Argo CD renders " + argoPath + " with the plugin, syncs it in waves and waits until every Performer is Ready",
			run: d.waitArgo},
	}...)
}

// clusterUp starts the local control plane, then Argo CD in the background.
func (d *demo) clusterUp(ctx context.Context, out io.Writer) error {
	if err := d.e.ClusterUp(ctx, true); err != nil {
		if !d.realNode {
			return err
		}
		return fmt.Errorf("%w\n(the real node did not start: HOURGLASS_DEMO_NODE=kwok make demo runs on KWOK nodes only)", err)
	}
	d.e.Cluster.ControllerBuilt = true // built alongside
	go d.startArgo(ctx)
	fmt.Fprintln(out, "    Argo CD starts in the background: Redis, CMP server, repo server, application controller")
	return nil
}

func (d *demo) startArgo(ctx context.Context) {
	a := d.argo
	defer close(a.done)
	a.started = time.Now()
	t := <-d.toolsReady
	if a.err = t.err; a.err != nil {
		return
	}
	resync, _ := time.ParseDuration(gitops.SourceInterval)
	a.argo, a.err = argocd.Start(ctx, d.e.Cluster, argocd.Options{
		Root: d.root, Bins: t.bins, Dir: filepath.Join(d.dir, "argocd"),
		Kustomize: t.kustomize, Function: cluster.FunctionBinary(d.root),
		AppResync: resync, Out: &a.out,
	})
	a.took = time.Since(a.started)
}

// publish serves the operator's release and the GitOps repository: the Flux examples rendered
// into rendered/ as CI does, and the Argo CD example as a declaration, which its plugin renders.
func (d *demo) publish(ctx context.Context, out io.Writer) (err error) {
	e := d.e
	if err := e.StartGit(ctx, true); err != nil {
		return err
	}
	if _, err = e.PublishRepos(ctx, d.fluxExamples); err != nil {
		return err
	}
	fmt.Fprintf(out, "    %s  executors/ %v rendered into rendered/ (Flux)\n", e.Executors.URL, d.fluxExamples)
	if err := os.CopyFS(filepath.Join(e.Executors.Repo.Work, argoPath), os.DirFS(filepath.Join(d.root, "examples", d.argoExample))); err != nil {
		return err
	}
	if d.realNode {
		if err := d.pointAtNode(filepath.Join(e.Executors.Repo.Work, argoPath, "executor.yaml")); err != nil {
			return err
		}
		fmt.Fprintf(out, "    %s/executor.yaml points at the real node and the local images (the stand-in executor, the sample performer %s)\n",
			argoPath, realnode.PerformerRepository+":"+d.images.PerformerTag)
	}
	if d.revision, err = e.Executors.Commit(ctx, argoPath+": examples/"+d.argoExample+", rendered by Argo CD's plugin"); err != nil {
		return err
	}
	fmt.Fprintf(out, "    %s  examples/%s as %s, not rendered (Argo CD), %s\n", e.Executors.URL, d.argoExample, argoPath, d.revision)
	return nil
}

// applyApplication applies the executor Application once Argo CD runs, and waits for it in the
// background; without Argo CD, Flux syncs its example too.
func (d *demo) applyApplication(ctx context.Context, out io.Writer) error {
	e, a := d.e, d.argo
	<-a.done
	fmt.Fprint(out, indent(a.out.String()))
	if a.err != nil {
		fmt.Fprintf(out, "    !! Argo CD is not running: %v\n", a.err)
		fmt.Fprintf(out, "    !! the demo goes on with Flux alone: it syncs examples/%s too (%s rendered into rendered/)\n", d.argoExample, argoPath)
		if _, err := e.Executors.Render(ctx); err != nil {
			return err
		}
		var err error
		d.revision, err = e.Sync(ctx, "Render "+argoPath+": Argo CD is not running")
		return err
	}
	fmt.Fprintf(out, "    Argo CD started in the background in %.1fs\n", a.took.Seconds())
	app, err := argocd.LoadExecutorApplication(d.root, e.Executors.URL, "")
	if err != nil {
		return err
	}
	if err := flux.Apply(ctx, e.Client, app); err != nil {
		return err
	}
	applied := time.Now()
	hash := strings.TrimPrefix(d.revision, "main@sha1:")
	go func() {
		var err error
		d.argoStatus, err = argocd.WaitFor(ctx, e.Client, argocd.ExecutorApplication, 4*time.Minute, func(s argocd.Status) bool {
			return s.Converged() && s.Revision == hash
		})
		d.argoTook = time.Since(applied)
		d.argoSynced <- err
	}()
	fmt.Fprintf(out, "    source: %s path %s, plugin %s\n", e.Executors.URL, argoPath, argocd.PluginName)
	return nil
}

func (d *demo) waitArgo(_ context.Context, out io.Writer) error {
	if d.argo.err != nil {
		fmt.Fprintln(out, "    skipped: Argo CD is not running")
		return nil
	}
	err := <-d.argoSynced
	fmt.Fprintf(out, "    %s\n", d.argoStatus)
	if err == nil {
		fmt.Fprintf(out, "    Synced and Healthy %.1fs after the Application was applied\n", d.argoTook.Seconds())
	}
	return err
}

// report prints what each engine reports, the performers and where they run, and how to look
// further.
func (d *demo) report(ctx context.Context) error {
	e := d.e
	fmt.Println("\n==> What each engine reports")
	fmt.Println("\nFlux: each Kustomization's Ready condition")
	for _, name := range []string{gitops.OperatorKustomization, gitops.ExecutorsKustomization} {
		s, err := flux.Get(ctx, e.Client, flux.Kustomization, flux.Namespace, name)
		if err != nil {
			return err
		}
		fmt.Printf("  %s %s/%s: Ready=%s %s: %s\n", s.Kind, s.Namespace, s.Name, s.Ready, s.Reason, s.Message)
	}
	if err := kubectl(ctx, e, "get", "gitrepositories,kustomizations", "-n", flux.Namespace); err != nil {
		return err
	}
	fmt.Println("\nArgo CD: the Application's sync status and health")
	if d.argo.err != nil {
		fmt.Printf("  not running: %v\n", d.argo.err)
	} else {
		s, err := argocd.Get(ctx, e.Client, argocd.ExecutorApplication)
		if err != nil {
			return err
		}
		fmt.Printf("  %s\n", s)
		if err := kubectl(ctx, e, "get", "applications", "-n", argocd.Namespace); err != nil {
			return err
		}
	}
	for _, args := range [][]string{{"get", "performers", "-A"}, {"get", "statefulsets", "-A"}} {
		if err := kubectl(ctx, e, args...); err != nil {
			return err
		}
	}
	fmt.Println("\nWhere each performer runs:")
	table, err := e.Cluster.Placements(ctx)
	if err != nil {
		return err
	}
	fmt.Print(table)
	owners, err := syncedBy(ctx, e)
	if err != nil {
		return err
	}
	fmt.Println("\nWhich engine synced each performer (kustomize-controller's labels, Argo CD's tracking annotation):")
	fmt.Print(owners)
	if d.realNode {
		if err := d.task(ctx); err != nil {
			return err
		}
	}
	d.howToLook()
	return nil
}

func (d *demo) howToLook() {
	e := d.e
	running := "The cluster, Flux, Argo CD, the Git server and the controller keep running"
	if d.argo.err != nil {
		running = "The cluster, Flux, the Git server and the controller keep running (Argo CD did not start)"
	}
	fmt.Printf("\nDemo ready in %.1fs. %s:\n", time.Since(d.start).Seconds(), running)
	fmt.Printf("  export KUBECONFIG=%s\n", e.Cluster.Kubeconfig)
	fmt.Println("  kubectl get kustomizations,gitrepositories -A")
	fmt.Println("  kubectl describe kustomization avs-executors -n flux-system")
	if d.argo.err == nil {
		fmt.Println("  kubectl get applications -n argocd")
		fmt.Println("  kubectl get application " + argocd.ExecutorApplication + " -n argocd -o yaml    # status.sync, status.health, status.operationState")
	}
	fmt.Println("  kubectl get performers -A")
	if d.realNode {
		fmt.Printf("  kubectl -n %s get pods -o wide    # the executor and the performer, in containers on %s\n", nodeNamespace, cluster.RealNodeName)
		fmt.Printf("  kubectl -n %s port-forward pod/%s 9095:%d &\n", nodeNamespace, nodeExecutorPod, nodeExecutorPort)
		fmt.Println("  go run ./test/executor/cmd/submit-task --addr 127.0.0.1:9095 --payload 12    # one task through the executor pod; --count 20 for a median")
	} else {
		fmt.Printf("  (KWOK nodes only: %s)\n", d.whyKWOK)
	}
	fmt.Printf("  cd %s && edit executors/*/executor.yaml, render (Flux) and commit: see README.md\n", e.Executors.Repo.Work)
	fmt.Println("  make demo-down    # stop everything")
}

func kubectl(ctx context.Context, e *gitops.Env, args ...string) error {
	fmt.Printf("\n$ kubectl %s\n", strings.Join(args, " "))
	out, err := e.Cluster.Kubectl(ctx, args...)
	if err != nil {
		return err
	}
	fmt.Print(out)
	return nil
}

// syncedBy names, for each Performer, the engine whose marks it carries: the labels
// kustomize-controller puts on what a Kustomization applies, and the tracking annotation Argo CD
// puts on what an Application syncs. A Performer with both would be fought over.
func syncedBy(ctx context.Context, e *gitops.Env) (string, error) {
	var list unstructured.UnstructuredList
	list.SetAPIVersion("hourglass.eigenlayer.io/v1alpha1")
	list.SetKind("PerformerList")
	if err := e.Client.List(ctx, &list); err != nil {
		return "", err
	}
	byEngine := map[string][]string{}
	for _, p := range list.Items {
		var engines []string
		if k := p.GetLabels()["kustomize.toolkit.fluxcd.io/name"]; k != "" {
			engines = append(engines, "Flux (Kustomization "+p.GetLabels()["kustomize.toolkit.fluxcd.io/namespace"]+"/"+k+")")
		}
		if id := p.GetAnnotations()["argocd.argoproj.io/tracking-id"]; id != "" {
			app, _, _ := strings.Cut(id, ":")
			engines = append(engines, "Argo CD (Application "+app+")")
		}
		engine := strings.Join(engines, " AND ")
		if engine == "" {
			engine = "neither"
		}
		byEngine[engine] = append(byEngine[engine], p.GetNamespace()+"/"+p.GetName())
	}
	var keys []string
	for k := range byEngine {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "  %s: %s\n", k, strings.Join(byEngine[k], ", "))
	}
	return b.String(), nil
}

// indent indents captured output to the phase's level.
func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return ""
	}
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if !strings.HasPrefix(line, "    ") {
			line = "    " + line
		}
		b.WriteString(line + "\n")
	}
	return b.String()
}

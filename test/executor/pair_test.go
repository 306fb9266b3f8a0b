package executor

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/hourglass-gitops/hourglass-gitops/api/v1alpha1"
	"github.com/hourglass-gitops/hourglass-gitops/test/e2erun"
	"github.com/hourglass-gitops/hourglass-gitops/test/framework/cluster"
)

// The package's clients log through controller-runtime; errors reach the tests as returned errors.
func init() { ctrllog.SetLogger(logr.Discard()) }

// The executor and its performer as a pair, on a local cluster: examples/basic rendered by the
// function and applied, the real controller, the executor stand-in with the rendered executor
// configuration and the executor's ServiceAccount, and the forwarder with the rendered routes.
// The executor's own Performer is bound to the declared one: it is ready within moments of
// being created, gets no workload, and the executor's gRPC call goes through the forwarder.
//
// KWOK runs no containers, so the performer is a gRPC server in this test and the forwarder a
// local process; its routes keep their rendered loopback ports and point at that server, since
// Service DNS names do not resolve outside a cluster.
//
// Then the executor crash-loops in its pod and the pod is deleted (leftovers_test.go).
func TestExecutorPerformerPair(t *testing.T) {
	e2erun.Gate(t, "executor/performer pair test on a local cluster", "test-e2e", "kubectl")
	run := e2erun.Begin(t, "HOURGLASS_PAIR_CLUSTER_DIR", "pair-cluster", 8*time.Minute)
	root, dir, out, ctx := run.Root, run.Dir, run.Out, run.Ctx

	// Render first: without the forwarder in the render there is nothing to test.
	if err := cluster.BuildFunction(ctx, root, out); err != nil {
		t.Fatal(err)
	}
	rendered, err := cluster.Build(ctx, root, filepath.Join(root, "examples", "basic"), true)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := cluster.ReadObjects(rendered)
	if err != nil {
		t.Fatal(err)
	}
	r := readRender(t, objs)

	run.DownAtEnd(t, dir)
	if err := cluster.Down(root, dir, out); err != nil { // whatever an interrupted run left
		t.Fatal(err)
	}
	c, err := cluster.Up(ctx, root, dir, out)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.StopController)
	if err := c.InstallController(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.StartController(ctx); err != nil {
		t.Fatal(err)
	}
	cl, err := client.New(c.Config, client.Options{Scheme: scheme(t)})
	if err != nil {
		t.Fatal(err)
	}

	// The performer, and the forwarder in front of it; in the pod the forwarder is a native
	// sidecar, running before the executor starts.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	perf := servePerformer(t, l)
	override := r.cfg.AvsPerformers[0].Kubernetes.EndpointOverride
	listen := startForwarder(t, root, override, l.Addr().String())
	if listen != override {
		t.Logf("the rendered port %s is taken on this machine: the forwarder and the executor use %s", override, listen)
		r.cfg.AvsPerformers[0].Kubernetes.EndpointOverride = listen
	}

	// Apply the whole render as Flux would, and start the executor at once, as its pod does
	// while the declared Performer is still rolling out.
	if err := applyAll(ctx, cl, objs); err != nil {
		t.Fatal(err)
	}
	// The executor, as its ServiceAccount, with the executor's own 5-second polling.
	cfg := r.cfg
	cfg.Timeout = 2 * time.Minute
	cfg.Retry = &RetryConfig{MaxRetries: 1, InitialDelay: 100 * time.Millisecond, MaxDelay: time.Second, BackoffMultiplier: 2, ConnectionTimeout: 5 * time.Second}
	identity := serviceAccountConfig(t, ctx, c.Config, r.cfg.Kubernetes.Namespace, r.executorSA)
	type started struct {
		e   *Executor
		err error
	}
	done := make(chan started, 1)
	start := time.Now()
	go func() {
		e, err := Start(ctx, identity, cfg, testLog(t))
		done <- started{e, err}
	}()
	declared := &v1alpha1.Performer{}
	until(t, time.Minute, "the declared Performer to be Ready", func() bool {
		return cl.Get(ctx, client.ObjectKeyFromObject(r.performer), declared) == nil && declared.Status.Ready
	})
	declaredReady := time.Now()
	res := <-done
	if res.err != nil {
		t.Fatalf("the executor did not start: %v", res.err)
	}
	e := res.e
	defer e.Shutdown()
	made := e.Performer(cfg.AvsPerformers[0].AvsAddress)
	t.Logf("declared Performer Ready %s after the apply; executor running %s after it started; its Performer %s created %s after it started",
		declaredReady.Sub(start).Round(time.Millisecond), made.Ready.Sub(start).Round(time.Millisecond), made.ID, made.Created.Sub(start).Round(time.Millisecond))

	// Two readiness waits, each looking every poll interval, the first look one interval in:
	// passed within two intervals of the later of the declared Performer's readiness and the
	// executor's Performer's creation.
	from := declaredReady
	if made.Created.After(from) {
		from = made.Created
	}
	if limit := 2*DefaultPollInterval + 3*time.Second; made.Ready.Sub(from) > limit {
		t.Errorf("the executor's readiness waits passed %s after the declared Performer was Ready and its own created, want within %s", made.Ready.Sub(from), limit)
	}
	got := &v1alpha1.Performer{}
	if err := cl.Get(ctx, client.ObjectKey{Namespace: cfg.Kubernetes.Namespace, Name: made.ID}, got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"true", declared.Endpoint()}, []string{fmt.Sprint(got.Status.Ready), got.Status.GRPCEndpoint}); diff != "" {
		t.Errorf("the executor's Performer: status.ready, status.grpcEndpoint (-want +got):\n%s", diff)
	}
	// The declared Performer's Deployment, Service and pod, the executor's Services and pod:
	// nothing for the executor's own Performer.
	want := []string{"Deployment " + v1alpha1.WorkloadName(declared.Name)}
	for _, o := range objs {
		if o.GetKind() == "Service" {
			want = append(want, "Service "+o.GetName())
		}
	}
	want = append(want, "Service "+v1alpha1.WorkloadName(declared.Name), "performer pod of "+declared.Name, "executor pod")
	running := workloads(t, ctx, cl, cfg.Kubernetes.Namespace)
	if diff := cmp.Diff(want, running, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("Deployments, Services and pods in %s with the executor running (-want +got):\n%s", cfg.Kubernetes.Namespace, diff)
	}

	// A task, as the executor sends it, reaches the performer through the forwarder.
	if made.DialEndpoint != cfg.AvsPerformers[0].Kubernetes.EndpointOverride {
		t.Errorf("the executor dials %s, want endpointOverride %s", made.DialEndpoint, cfg.AvsPerformers[0].Kubernetes.EndpointOverride)
	}
	resp, err := e.ExecuteTask(ctx, cfg.AvsPerformers[0].AvsAddress, []byte("task-1"), []byte("payload"))
	if err != nil {
		t.Fatalf("ExecuteTask through the forwarder: %v", err)
	}
	if diff := cmp.Diff([]string{"task-1 done:payload"}, []string{string(resp.GetTaskId()) + " " + string(resp.GetResult())}); diff != "" {
		t.Errorf("task response (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"task-1 payload"}, perf.got()); diff != "" {
		t.Errorf("tasks the performer got (-want +got):\n%s", diff)
	}

	// The executor stops: its Performer goes, the declared one stays Ready with its workload.
	if err := e.Shutdown(); err != nil {
		t.Fatalf("executor shutdown: %v", err)
	}
	until(t, 30*time.Second, "the executor's Performer to be gone", func() bool {
		return apierrors.IsNotFound(cl.Get(ctx, client.ObjectKey{Namespace: cfg.Kubernetes.Namespace, Name: made.ID}, &v1alpha1.Performer{}))
	})
	time.Sleep(2 * time.Second)
	if err := cl.Get(ctx, client.ObjectKeyFromObject(declared), declared); err != nil || !declared.Status.Ready {
		t.Errorf("the declared Performer after the executor stopped: ready %v, error %v", declared.Status.Ready, err)
	}
	if diff := cmp.Diff(running, workloads(t, ctx, cl, cfg.Kubernetes.Namespace)); diff != "" {
		t.Errorf("Deployments, Services and pods after the executor stopped (-before +after):\n%s", diff)
	}

	// A crash-looping executor, then its pod's deletion, leave no Performer behind.
	t.Run("leftovers", func(t *testing.T) { crashLoopAndPodDeletion(t, ctx, c.Config, cl, cfg) })
}

// render is what the test takes from the rendered example.
type render struct {
	cfg        Config
	performer  *unstructured.Unstructured
	executorSA string
}

// readRender checks the agreed shape of the render (endpointOverride on loopback per AVS, the
// performer-forwarder native sidecar routing it to the declared Performer's Service) and returns
// what the test needs.
func readRender(t *testing.T, objs []*unstructured.Unstructured) render {
	t.Helper()
	var r render
	var sts *appsv1.StatefulSet
	for _, o := range objs {
		switch o.GetKind() {
		case "ConfigMap":
			data, _, _ := unstructured.NestedString(o.Object, "data", "config.yaml")
			if data == "" {
				continue
			}
			cfg, err := ParseConfig([]byte(data))
			if err != nil {
				t.Fatalf("ConfigMap %s: %v", o.GetName(), err)
			}
			r.cfg = cfg
		case "Performer":
			r.performer = o
		case "StatefulSet":
			sts = &appsv1.StatefulSet{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, sts); err != nil {
				t.Fatal(err)
			}
			r.executorSA = sts.Spec.Template.Spec.ServiceAccountName
		}
	}
	if len(r.cfg.AvsPerformers) != 1 || r.performer == nil || sts == nil {
		t.Fatalf("examples/basic renders %d AVSs in the executor config, Performer %v, StatefulSet %v: want 1 of each", len(r.cfg.AvsPerformers), r.performer != nil, sts != nil)
	}
	avs := r.cfg.AvsPerformers[0]
	if avs.Kubernetes == nil || !strings.HasPrefix(avs.Kubernetes.EndpointOverride, "127.0.0.1:") {
		t.Fatalf("the rendered executor config has endpointOverride %+v for AVS %s, want 127.0.0.1:<port>", avs.Kubernetes, avs.AvsAddress)
	}
	var fwd *corev1.Container
	for i, ic := range sts.Spec.Template.Spec.InitContainers {
		if ic.Name == "performer-forwarder" {
			fwd = &sts.Spec.Template.Spec.InitContainers[i]
		}
	}
	if fwd == nil {
		t.Fatalf("StatefulSet %s has no performer-forwarder init container", sts.Name)
	}
	var routes []string
	for _, arg := range fwd.Args {
		if v, ok := strings.CutPrefix(arg, "--route="); ok {
			routes = append(routes, v)
		}
	}
	p := &v1alpha1.Performer{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(r.performer.Object, p); err != nil {
		t.Fatal(err)
	}
	want := []string{avs.Kubernetes.EndpointOverride + "=" + p.Endpoint()}
	if diff := cmp.Diff(want, routes); diff != "" {
		t.Errorf("the forwarder's routes: endpointOverride to the declared Performer's Service (-want +got):\n%s", diff)
	}
	always := corev1.ContainerRestartPolicyAlways
	if fwd.RestartPolicy == nil || *fwd.RestartPolicy != always || len(fwd.Command) != 1 || fwd.Command[0] != "/performer-forwarder" {
		t.Errorf("performer-forwarder: restartPolicy %v, command %q; want a native sidecar (Always) running /performer-forwarder", fwd.RestartPolicy, fwd.Command)
	}
	return r
}

// startForwarder builds controller/cmd/performer-forwarder and runs it with one route from listen (or a free
// loopback port if that one is taken) to target; it returns the address it listens on.
func startForwarder(t *testing.T, root, listen, target string) string {
	t.Helper()
	if l, err := net.Listen("tcp", listen); err != nil {
		l2, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		listen = l2.Addr().String()
		l2.Close()
	} else {
		l.Close()
	}
	bin := filepath.Join(t.TempDir(), "performer-forwarder")
	build := exec.Command("go", "build", "-o", bin, "./controller/cmd/performer-forwarder")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the forwarder: %v\n%s", err, b)
	}
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	health := hl.Addr().String()
	hl.Close()
	cmd := exec.Command(bin, "--route="+listen+"="+target, "--health-addr="+health)
	cmd.Stdout, cmd.Stderr = logWriter{t}, logWriter{t}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	until(t, 20*time.Second, "the forwarder's /readyz", func() bool {
		resp, err := http.Get("http://" + health + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return listen
}

// serviceAccountConfig returns a client configuration that authenticates as the ServiceAccount,
// with a token from the TokenRequest API, as the executor in its pod does.
func serviceAccountConfig(t *testing.T, ctx context.Context, admin *rest.Config, ns, sa string) *rest.Config {
	t.Helper()
	cs, err := kubernetes.NewForConfig(admin)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token for ServiceAccount %s/%s: %v", ns, sa, err)
	}
	return &rest.Config{Host: admin.Host, TLSClientConfig: rest.TLSClientConfig{CAData: admin.CAData, CAFile: admin.CAFile}, BearerToken: tr.Status.Token}
}

// workloads lists the Deployments and Services in ns by name, and the pods by what they run.
func workloads(t *testing.T, ctx context.Context, cl client.Client, ns string) []string {
	t.Helper()
	var out []string
	var deps appsv1.DeploymentList
	var svcs corev1.ServiceList
	var pods corev1.PodList
	for _, l := range []client.ObjectList{&deps, &svcs, &pods} {
		if err := cl.List(ctx, l, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range deps.Items {
		out = append(out, "Deployment "+d.Name)
	}
	for _, s := range svcs.Items {
		out = append(out, "Service "+s.Name)
	}
	for _, p := range pods.Items {
		switch {
		case p.DeletionTimestamp != nil:
		case p.Labels[v1alpha1.PerformerLabel] != "":
			out = append(out, "performer pod of "+p.Labels[v1alpha1.PerformerLabel])
		case p.Labels["app.kubernetes.io/component"] == "executor":
			out = append(out, "executor pod")
		default:
			out = append(out, "Pod "+p.Name)
		}
	}
	return out
}

func scheme(t *testing.T) *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, v1alpha1.AddToScheme} {
		if err := add(s); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func until(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// applyAll applies the render with server-side apply as Flux's kustomize-controller does: the
// Namespace first, then everything else, without waiting for any of it.
func applyAll(ctx context.Context, cl client.Client, objs []*unstructured.Unstructured) error {
	sorted := append([]*unstructured.Unstructured(nil), objs...)
	sort.SliceStable(sorted, func(i, j int) bool {
		return sorted[i].GetKind() == "Namespace" && sorted[j].GetKind() != "Namespace"
	})
	for _, o := range sorted {
		if err := cl.Apply(ctx, client.ApplyConfigurationFromUnstructured(o.DeepCopy()),
			client.FieldOwner("kustomize-controller"), client.ForceOwnership); err != nil {
			return fmt.Errorf("applying %s %s/%s: %w", o.GetKind(), o.GetNamespace(), o.GetName(), err)
		}
	}
	return nil
}

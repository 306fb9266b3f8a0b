package performer_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/hourglass-gitops/hourglass-gitops/api/v1alpha1"
	"github.com/hourglass-gitops/hourglass-gitops/controller/internal/performer"
	"github.com/hourglass-gitops/hourglass-gitops/controller/internal/recorder"
	"github.com/hourglass-gitops/hourglass-gitops/controller/workload"
	"github.com/hourglass-gitops/hourglass-gitops/test/envtest"
)

// The tests share one API server and one manager running the real reconciler, as the controller
// runs by default: Performers not declared in Git get no workload. Each test works in its own
// namespace; the namespace undeclaredNS is left to a manager started with AllowUndeclared
// (--allow-undeclared-performers). The manager's client counts what the controller writes and how often it
// reads each Performer (once per reconcile).
var (
	env   *envtest.Env
	calls = &callLog{}
	// k is the tests' own client: uncached and not counted.
	k client.Client
)

const timeout = 30 * time.Second

func TestMain(m *testing.M) {
	envtest.Main(m, func(e *envtest.Env) {
		env, k = e, e.Client
		if err := startManager(e); err != nil {
			fmt.Fprintf(os.Stderr, "starting the manager: %v\n", err)
			os.Exit(1)
		}
	})
}

func startManager(e *envtest.Env) error {
	if os.Getenv("TEST_CONTROLLER_LOGS") != "" {
		ctrl.SetLogger(zap.New(zap.UseDevMode(true)))
	} else {
		ctrl.SetLogger(zap.New(zap.WriteTo(nopWriter{})))
	}
	if err := e.Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: undeclaredNS}}); err != nil {
		return err
	}
	stop, err := runManager(e, calls, nil, false)
	if err != nil {
		return err
	}
	e.Cleanup(stop)
	return nil
}

// undeclaredNS is the namespace of the tests of --allow-undeclared-performers: the shared manager
// does not see it.
const undeclaredNS = "allow-undeclared"

// runManager starts a manager with the real reconciler, watching namespaces (none: all but
// undeclaredNS), whose client records in log, and waits for its caches. allowUndeclared is the
// reconciler's AllowUndeclared. stop stops it.
func runManager(e *envtest.Env, log *callLog, namespaces []string, allowUndeclared bool) (stop func(), err error) {
	cacheOpts := performer.CacheOptions(namespaces)
	if len(namespaces) == 0 {
		// A namespace with a configuration of its own is left out of the all-namespaces watch;
		// this one's selector matches nothing.
		nothing := labels.SelectorFromSet(labels.Set{"performer-suite.test/never": "true"})
		cacheOpts.DefaultNamespaces = map[string]cache.Config{cache.AllNamespaces: {}, undeclaredNS: {LabelSelector: nothing}}
	}
	mgr, err := ctrl.NewManager(e.Config, ctrl.Options{
		Scheme:                 e.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  cacheOpts,
		NewClient: func(cfg *rest.Config, opts client.Options) (client.Client, error) {
			c, err := client.NewWithWatch(cfg, opts)
			if err != nil {
				return nil, err
			}
			return interceptor.NewClient(c, log.funcs()), nil
		},
	})
	if err != nil {
		return nil, err
	}
	// Events go around the call log, as they did with client-go's recorder: the tests count the
	// writes of the reconciler.
	events := recorder.New(e.Client, e.Scheme, performer.FieldManager)
	if err := mgr.Add(events); err != nil {
		return nil, err
	}
	r := &performer.Reconciler{
		Client:          mgr.GetClient(),
		Recorder:        events,
		NeverPullPolicy: corev1.PullIfNotPresent,
		AllowUndeclared: allowUndeclared,
		Security:        workload.Allowance{ServiceAccounts: []string{"performer-runner"}},
		QuietPeriod:     quietRollout,
	}
	// A second manager (a restart) runs a controller of the same name.
	opts := controller.Options{MaxConcurrentReconciles: 4, SkipNameValidation: ptr(namespaces != nil)}
	if err := r.SetupWithManager(mgr, opts); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	stop = func() {
		cancel()
		if err := <-done; err != nil {
			fmt.Fprintf(os.Stderr, "manager: %v\n", err)
		}
	}
	syncCtx, syncCancel := context.WithTimeout(ctx, timeout)
	defer syncCancel()
	if !mgr.GetCache().WaitForCacheSync(syncCtx) {
		stop()
		return nil, errors.New("caches did not sync")
	}
	return stop, nil
}

type nopWriter struct{}

func (nopWriter) Write(p []byte) (int, error) { return len(p), nil }

// callLog records the controller's writes, its dry runs and its reads of Performers.
type callLog struct {
	mu      sync.Mutex
	writes  []string                     // "namespace verb kind/name"
	dryRuns []string                     // "namespace verb kind/name"
	reads   map[types.NamespacedName]int // Performer reads
}

// dryRunsIn lists the dry-run requests for objects in namespace ns.
func (l *callLog) dryRunsIn(ns string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, w := range l.dryRuns {
		if strings.HasPrefix(w, ns+" ") {
			out = append(out, w)
		}
	}
	return out
}

func (l *callLog) write(verb string, ns, kind, name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writes = append(l.writes, fmt.Sprintf("%s %s %s/%s", ns, verb, kind, name))
}

// writesIn lists the writes to objects in namespace ns.
func (l *callLog) writesIn(ns string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, w := range l.writes {
		if len(w) > len(ns) && w[:len(ns)+1] == ns+" " {
			out = append(out, w)
		}
	}
	return out
}

func (l *callLog) readsOf(key types.NamespacedName) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.reads[key]
}

func kindOf(obj runtime.Object) string {
	if gvk := obj.GetObjectKind().GroupVersionKind(); gvk.Kind != "" {
		return gvk.Kind
	}
	return fmt.Sprintf("%T", obj)
}

func (l *callLog) funcs() interceptor.Funcs {
	return interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if _, ok := obj.(*v1alpha1.Performer); ok {
				l.mu.Lock()
				if l.reads == nil {
					l.reads = map[types.NamespacedName]int{}
				}
				l.reads[key]++
				l.mu.Unlock()
			}
			return c.Get(ctx, key, obj, opts...)
		},
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			l.write("create", obj.GetNamespace(), kindOf(obj), obj.GetName())
			return c.Create(ctx, obj, opts...)
		},
		Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			l.write("update", obj.GetNamespace(), kindOf(obj), obj.GetName())
			return c.Update(ctx, obj, opts...)
		},
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			if (&client.PatchOptions{}).ApplyOptions(opts).DryRun != nil {
				l.mu.Lock()
				l.dryRuns = append(l.dryRuns, fmt.Sprintf("%s patch %s/%s", obj.GetNamespace(), kindOf(obj), obj.GetName()))
				l.mu.Unlock()
				return c.Patch(ctx, obj, patch, opts...)
			}
			l.write("patch", obj.GetNamespace(), kindOf(obj), obj.GetName())
			return c.Patch(ctx, obj, patch, opts...)
		},
		Apply: func(ctx context.Context, c client.WithWatch, obj runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
			ns, kind, name := "", fmt.Sprintf("%T", obj), ""
			if o, ok := obj.(interface {
				GetNamespace() *string
				GetName() *string
				GetKind() *string
			}); ok {
				ns, kind, name = deref(o.GetNamespace()), deref(o.GetKind()), deref(o.GetName())
			}
			l.write("apply", ns, kind, name)
			return c.Apply(ctx, obj, opts...)
		},
		Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
			l.write("delete", obj.GetNamespace(), kindOf(obj), obj.GetName())
			return c.Delete(ctx, obj, opts...)
		},
		DeleteAllOf: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteAllOfOption) error {
			l.write("deleteallof", obj.GetNamespace(), kindOf(obj), "*")
			return c.DeleteAllOf(ctx, obj, opts...)
		},
		SubResourceCreate: func(ctx context.Context, c client.Client, sub string, obj client.Object, subObj client.Object, opts ...client.SubResourceCreateOption) error {
			l.write("create/"+sub, obj.GetNamespace(), kindOf(obj), obj.GetName())
			return c.SubResource(sub).Create(ctx, obj, subObj, opts...)
		},
		SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, obj client.Object, opts ...client.SubResourceUpdateOption) error {
			l.write("update/"+sub, obj.GetNamespace(), kindOf(obj), obj.GetName())
			return c.SubResource(sub).Update(ctx, obj, opts...)
		},
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
			l.write("patch/"+sub, obj.GetNamespace(), kindOf(obj), obj.GetName())
			return c.SubResource(sub).Patch(ctx, obj, patch, opts...)
		},
		SubResourceApply: func(ctx context.Context, c client.Client, sub string, obj runtime.ApplyConfiguration, opts ...client.SubResourceApplyOption) error {
			l.write("apply/"+sub, "?", fmt.Sprintf("%T", obj), "?")
			return c.SubResource(sub).Apply(ctx, obj, opts...)
		},
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// --- helpers shared by the tests ---

const avs = "0x1234567890abcdef1234567890abcdef12345678"

// newPerformer is a Performer declared in Git, written by hand (the annotation with its source);
// executorMade in binding_test.go is one that is not.
func newPerformer(ns, name string, mutate ...func(*v1alpha1.Performer)) *v1alpha1.Performer {
	p := &v1alpha1.Performer{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns,
			Annotations: map[string]string{v1alpha1.DeclarationAnnotation: ns + "/" + name}},
		Spec: v1alpha1.PerformerSpec{
			AVSAddress: avs,
			Image:      "registry.example.com/avs/performer",
			Version:    "v1.0.0",
		},
	}
	for _, m := range mutate {
		m(p)
	}
	return p
}

func create(t *testing.T, obj client.Object) {
	t.Helper()
	if err := k.Create(context.Background(), obj); err != nil {
		t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
}

// waitFor polls until cond holds, failing the test with the last reason it gave when it does not
// within the timeout.
func waitFor(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for {
		ok, why := cond()
		if ok {
			return
		}
		last = why
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %s", what, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func get(t *testing.T, key types.NamespacedName, obj client.Object) {
	t.Helper()
	if err := k.Get(context.Background(), key, obj); err != nil {
		t.Fatalf("getting %T %s: %v", obj, key, err)
	}
}

func key(o client.Object) types.NamespacedName { return client.ObjectKeyFromObject(o) }

func workloadKey(p *v1alpha1.Performer) types.NamespacedName {
	return types.NamespacedName{Namespace: p.Namespace, Name: workload.Name(p)}
}

func getPerformer(t *testing.T, p *v1alpha1.Performer) *v1alpha1.Performer {
	t.Helper()
	out := &v1alpha1.Performer{}
	get(t, key(p), out)
	return out
}

// waitPerformer waits until the Performer satisfies cond and returns it.
func waitPerformer(t *testing.T, p *v1alpha1.Performer, what string, cond func(*v1alpha1.Performer) bool) *v1alpha1.Performer {
	t.Helper()
	var got *v1alpha1.Performer
	waitFor(t, what, func() (bool, string) {
		got = &v1alpha1.Performer{}
		if err := k.Get(context.Background(), key(p), got); err != nil {
			return false, err.Error()
		}
		return cond(got), fmt.Sprintf("status is %s", statusString(got))
	})
	return got
}

func statusString(p *v1alpha1.Performer) string {
	s := fmt.Sprintf("observedGeneration=%d/%d phase=%s ready=%v currentImage=%q", p.Status.ObservedGeneration, p.Generation, p.Status.Phase, p.Status.Ready, p.Status.CurrentImage)
	for _, c := range p.Status.Conditions {
		s += fmt.Sprintf(" %s=%s(%s: %s)", c.Type, c.Status, c.Reason, c.Message)
	}
	return s
}

func waitDeployment(t *testing.T, p *v1alpha1.Performer, what string, cond func(*appsv1.Deployment) bool) *appsv1.Deployment {
	t.Helper()
	var got *appsv1.Deployment
	waitFor(t, what, func() (bool, string) {
		got = &appsv1.Deployment{}
		if err := k.Get(context.Background(), workloadKey(p), got); err != nil {
			return false, err.Error()
		}
		return cond(got), fmt.Sprintf("deployment generation %d", got.Generation)
	})
	return got
}

func condition(p *v1alpha1.Performer, typ string) *metav1.Condition {
	return apimeta.FindStatusCondition(p.Status.Conditions, typ)
}

func isReady(p *v1alpha1.Performer) bool {
	return p.Status.ObservedGeneration == p.Generation && apimeta.IsStatusConditionTrue(p.Status.Conditions, meta.ReadyCondition)
}

func isStalled(reason string) func(*v1alpha1.Performer) bool {
	return func(p *v1alpha1.Performer) bool {
		c := condition(p, meta.StalledCondition)
		return p.Status.ObservedGeneration == p.Generation && c != nil && c.Status == metav1.ConditionTrue && c.Reason == reason
	}
}

// kstatus computes the Performer's status the way Flux, kubectl-style waiters and cli-utils do.
func kstatus(t *testing.T, p *v1alpha1.Performer) status.Status {
	t.Helper()
	p = p.DeepCopy()
	p.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind(v1alpha1.PerformerKind))
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(p)
	if err != nil {
		t.Fatal(err)
	}
	res, err := status.Compute(&unstructured.Unstructured{Object: m})
	if err != nil {
		t.Fatalf("kstatus: %v", err)
	}
	return res.Status
}

func wantKstatus(t *testing.T, p *v1alpha1.Performer, want status.Status) {
	t.Helper()
	if got := kstatus(t, p); got != want {
		t.Errorf("kstatus = %s, want %s (%s)", got, want, statusString(p))
	}
}

// runPod plays the Deployment controller, the scheduler and the kubelet, which envtest does not
// run: it creates a pod from the Deployment's current template and marks it running and ready.
func runPod(t *testing.T, dep *appsv1.Deployment, suffix string) *corev1.Pod {
	t.Helper()
	pod := podFor(dep, suffix)
	create(t, pod)
	pod.Status = corev1.PodStatus{
		Phase: corev1.PodRunning,
		Conditions: []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue},
			{Type: corev1.ContainersReady, Status: corev1.ConditionTrue},
			{Type: corev1.PodReady, Status: corev1.ConditionTrue},
		},
		ContainerStatuses: []corev1.ContainerStatus{{
			Name: workload.ContainerName, Image: pod.Spec.Containers[0].Image, Ready: true,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}},
		}},
	}
	if err := k.Status().Update(context.Background(), pod); err != nil {
		t.Fatalf("marking pod %s ready: %v", pod.Name, err)
	}
	return pod
}

func podFor(dep *appsv1.Deployment, suffix string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:      fmt.Sprintf("%s-%d-%s", dep.Name, dep.Generation, suffix),
			Namespace: dep.Namespace,
			Labels:    dep.Spec.Template.Labels,
		},
		Spec: *podSpecOn(dep, "node-"+suffix),
	}
}

// podSpecOn is the Deployment's pod spec as scheduled onto node.
func podSpecOn(dep *appsv1.Deployment, node string) *corev1.PodSpec {
	spec := dep.Spec.Template.Spec.DeepCopy()
	spec.NodeName = node
	return spec
}

// setPodStatus replaces the status of a pod created from the Deployment's template.
func setPodStatus(t *testing.T, pod *corev1.Pod, s corev1.PodStatus) {
	t.Helper()
	pod.Status = s
	if err := k.Status().Update(context.Background(), pod); err != nil {
		t.Fatalf("updating the status of pod %s: %v", pod.Name, err)
	}
}

// setDeploymentStatus reports the Deployment's rollout as the Deployment controller would.
func setDeploymentStatus(t *testing.T, p *v1alpha1.Performer, mutate func(*appsv1.Deployment)) {
	t.Helper()
	dep := &appsv1.Deployment{}
	get(t, workloadKey(p), dep)
	mutate(dep)
	if err := k.Status().Update(context.Background(), dep); err != nil {
		t.Fatalf("updating the status of Deployment %s: %v", dep.Name, err)
	}
}

// rolledOut is the status of a Deployment whose single replica runs the current template.
func rolledOut(dep *appsv1.Deployment) {
	dep.Status = appsv1.DeploymentStatus{
		ObservedGeneration: dep.Generation,
		Replicas:           1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1,
	}
}

// bringUp creates the Performer and plays the rollout of its first version to the end.
func bringUp(t *testing.T, p *v1alpha1.Performer) (*v1alpha1.Performer, *corev1.Pod) {
	t.Helper()
	create(t, p)
	dep := waitDeployment(t, p, "the Deployment", func(*appsv1.Deployment) bool { return true })
	pod := runPod(t, dep, "a")
	setDeploymentStatus(t, p, rolledOut)
	return waitPerformer(t, p, "the performer to be ready", isReady), pod
}

// countWrites counts the controller's writes "verb Kind/name" in namespace ns.
func countWrites(ns, write string) int {
	n := 0
	for _, w := range calls.writesIn(ns) {
		if w == ns+" "+write {
			n++
		}
	}
	return n
}

// eventsOf lists the type and reason of the events about the Performer, oldest first.
func eventsOf(t *testing.T, p *v1alpha1.Performer) []string {
	t.Helper()
	var list eventsv1.EventList
	if err := k.List(context.Background(), &list, client.InNamespace(p.Namespace)); err != nil {
		t.Fatal(err)
	}
	sort.SliceStable(list.Items, func(i, j int) bool { return list.Items[i].EventTime.Before(&list.Items[j].EventTime) })
	var out []string
	for _, e := range list.Items {
		if e.Regarding.Name == p.Name && e.Regarding.Kind == v1alpha1.PerformerKind {
			out = append(out, e.Type+"/"+e.Reason)
		}
	}
	return out
}

// waitEvent waits for an event about the Performer with the given type and reason, and returns its note.
func waitEvent(t *testing.T, p *v1alpha1.Performer, typ, reason string) string {
	t.Helper()
	var note string
	waitFor(t, fmt.Sprintf("a %s event %s", typ, reason), func() (bool, string) {
		var list eventsv1.EventList
		if err := k.List(context.Background(), &list, client.InNamespace(p.Namespace)); err != nil {
			return false, err.Error()
		}
		var seen []string
		for _, e := range list.Items {
			if e.Regarding.Name != p.Name || e.Regarding.Kind != v1alpha1.PerformerKind {
				continue
			}
			if e.Type == typ && e.Reason == reason {
				note = e.Note
				return true, ""
			}
			seen = append(seen, e.Type+"/"+e.Reason)
		}
		return false, fmt.Sprintf("events so far: %v", seen)
	})
	return note
}

package performer_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/hourglass-gitops/hourglass-gitops/api/v1alpha1"
)

// declared is a Performer as the AVSExecutor function renders it from a declaration in Git.
func declared(ns, name string, mutate ...func(*v1alpha1.Performer)) *v1alpha1.Performer {
	return newPerformer(ns, name, append([]func(*v1alpha1.Performer){func(p *v1alpha1.Performer) {
		p.Annotations = map[string]string{v1alpha1.DeclarationAnnotation: ns + "/my-executor"}
		p.Spec.Config.GRPCPort = 8080
	}}, mutate...)...)
}

// executorMade is a Performer as the Hourglass executor creates it at start (ponos/pkg/executor/
// avsPerformer/avsKubernetesPerformer/kubernetesPerformer.go, createPerformerResource, and
// ponos/pkg/kubernetesManager/crd.go, CreatePerformer): named performer-<6 hex>-<8 hex>, the
// image as repository:tag with the tag again as version, imagePullPolicy Never, grpcPort 8080,
// AVS_ADDRESS and GRPC_PORT in the environment, the executor's labels, no hardware.
func executorMade(ns, name, tag string) *v1alpha1.Performer {
	return &v1alpha1.Performer{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{
			"app": "hourglass-performer", "hourglass.eigenlayer.io/avs": avs, "hourglass.eigenlayer.io/performer": name,
		}},
		Spec: v1alpha1.PerformerSpec{
			AVSAddress:      avs,
			Image:           "registry.example.com/avs/performer:" + tag,
			Version:         tag,
			ImagePullPolicy: corev1.PullNever,
			Config: v1alpha1.PerformerConfig{
				GRPCPort:    8080,
				Environment: map[string]string{"AVS_ADDRESS": avs, "GRPC_PORT": "8080"},
			},
		},
	}
}

func isBound(to string) func(*v1alpha1.Performer) bool {
	return func(p *v1alpha1.Performer) bool {
		c := condition(p, v1alpha1.BoundCondition)
		return p.Status.ObservedGeneration == p.Generation && c != nil && c.Status == metav1.ConditionTrue && strings.Contains(c.Message, to)
	}
}

// noWorkload checks that the Performer has no Deployment and no Service, for a while.
func noWorkload(t *testing.T, p *v1alpha1.Performer) {
	t.Helper()
	for end := time.Now().Add(time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		for _, obj := range []client.Object{&appsv1.Deployment{}, &corev1.Service{}} {
			if err := k.Get(context.Background(), workloadKey(p), obj); !apierrors.IsNotFound(err) {
				t.Fatalf("%T %s exists (err %v): a bound Performer must have no workload", obj, workloadKey(p), err)
			}
		}
	}
}

// The executor's Performer follows the declared one: no workload of its own, Ready exactly while
// the declared Performer is, with the declared Performer's endpoint.
func TestBoundPerformerFollowsTheDeclaredOne(t *testing.T) {
	t.Parallel()
	ns := env.Namespace(t)
	d := declared(ns, "my-avs")
	create(t, d)
	dep := waitDeployment(t, d, "the declared Performer's Deployment", func(*appsv1.Deployment) bool { return true })

	e := executorMade(ns, "performer-1a2b3c-0d9e8f7a", "v1.0.0")
	create(t, e)
	got := waitPerformer(t, e, "bound, not ready", func(p *v1alpha1.Performer) bool {
		return isBound("my-avs")(p) && p.Status.Phase == v1alpha1.PhasePending
	})
	if c := condition(got, meta.ReadyCondition); c == nil || c.Status != metav1.ConditionFalse || c.Reason != meta.DependencyNotReadyReason || !strings.Contains(c.Message, "my-avs") {
		t.Errorf("Ready before the declared Performer is ready = %+v, want False/DependencyNotReady naming my-avs", c)
	}
	if got.Status.Ready {
		t.Error("status.ready is true before the declared Performer is ready")
	}
	wantKstatus(t, got, status.InProgressStatus)
	if note := waitEvent(t, e, corev1.EventTypeNormal, "Bound"); !strings.Contains(note, "my-avs") {
		t.Errorf("Bound event %q does not name the declared Performer", note)
	}
	noWorkload(t, e)

	// The declared Performer becomes ready: the bound one follows within moments, well inside the
	// executor's 5 s polling interval.
	pod := runPod(t, dep, "a")
	setDeploymentStatus(t, d, rolledOut)
	waitPerformer(t, d, "the declared Performer ready", isReady)
	start := time.Now()
	got = waitPerformer(t, e, "ready", func(p *v1alpha1.Performer) bool { return isReady(p) && p.Status.Ready })
	t.Logf("the bound Performer was ready %v after the declared one", time.Since(start).Round(time.Millisecond))
	if time.Since(start) > 3*time.Second {
		t.Errorf("the bound Performer took %v to follow the declared one", time.Since(start))
	}
	want := v1alpha1.PerformerStatus{
		Phase: v1alpha1.PhaseRunning, Ready: true, PodName: pod.Name, NodeName: pod.Spec.NodeName,
		ServiceName: "performer-my-avs", GRPCEndpoint: "performer-my-avs." + ns + ".svc.cluster.local:8080",
		CurrentImage: "registry.example.com/avs/performer:v1.0.0",
	}
	gotSt := v1alpha1.PerformerStatus{
		Phase: got.Status.Phase, Ready: got.Status.Ready, PodName: got.Status.PodName, NodeName: got.Status.NodeName,
		ServiceName: got.Status.ServiceName, GRPCEndpoint: got.Status.GRPCEndpoint, CurrentImage: got.Status.CurrentImage,
	}
	if diff := cmp.Diff(want, gotSt); diff != "" {
		t.Errorf("bound status (-want +got):\n%s", diff)
	}
	if c := condition(got, meta.ReadyCondition); !strings.Contains(c.Message, "my-avs") {
		t.Errorf("Ready message %q does not name the declared Performer", c.Message)
	}
	wantKstatus(t, got, status.CurrentStatus)

	// The declared Performer's pod stops being ready: so does the bound Performer.
	setPodStatus(t, pod, corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse}}})
	waitPerformer(t, e, "not ready again", func(p *v1alpha1.Performer) bool {
		return !p.Status.Ready && p.Status.Phase == v1alpha1.PhasePending
	})
	noWorkload(t, e)

	// No owner references between them: deleting the executor's Performer leaves the declared one.
	for _, p := range []*v1alpha1.Performer{getPerformer(t, d), getPerformer(t, e)} {
		if len(p.OwnerReferences) > 0 {
			t.Errorf("Performer %s has owner references %v", p.Name, p.OwnerReferences)
		}
	}
	if err := k.Delete(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	getPerformer(t, d)
	get(t, workloadKey(d), &appsv1.Deployment{})
}

// With --allow-undeclared-performers a Performer made before its declared twin existed ran a
// workload of its own; once the declared Performer appears that workload is removed. Once the
// declared one is deleted, the executor's Performer runs on its own again, with the pull policy
// the controller gives Never.
func TestDeclaredPerformerTakesOverAndLeaves(t *testing.T) {
	t.Parallel()
	ns := undeclaredNS
	stop, err := runManager(env, &callLog{}, []string{ns}, true)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	// undeclaredNS is shared by runs (-count): names of their own keep them apart.
	run := fmt.Sprintf("%04x", time.Now().UnixNano()&0xffff)
	e := executorMade(ns, "performer-1a2b3c-1111"+run, "v1.0.0")
	create(t, e)
	dep := waitDeployment(t, e, "the executor's Performer's own Deployment", func(*appsv1.Deployment) bool { return true })
	c := dep.Spec.Template.Spec.Containers[0]
	if c.ImagePullPolicy != corev1.PullIfNotPresent {
		t.Errorf("imagePullPolicy of a Performer not declared in Git = %s, want IfNotPresent in place of Never", c.ImagePullPolicy)
	}
	if diff := cmp.Diff([]corev1.EnvVar{{Name: "AVS_ADDRESS", Value: avs}, {Name: "GRPC_PORT", Value: "8080"}}, c.Env); diff != "" {
		t.Errorf("env (-want +got):\n%s", diff)
	}
	waitFor(t, "the Service", func() (bool, string) {
		err := k.Get(context.Background(), workloadKey(e), &corev1.Service{})
		return err == nil, errString(err)
	})

	d := declared(ns, "my-avs-"+run)
	create(t, d)
	waitPerformer(t, e, "bound", isBound(d.Name))
	waitFor(t, "the bound Performer's workload to be removed", func() (bool, string) {
		errD := k.Get(context.Background(), workloadKey(e), &appsv1.Deployment{})
		errS := k.Get(context.Background(), workloadKey(e), &corev1.Service{})
		return apierrors.IsNotFound(errD) && apierrors.IsNotFound(errS), "Deployment: " + errString(errD) + ", Service: " + errString(errS)
	})
	if note := waitEvent(t, e, corev1.EventTypeNormal, "WorkloadRemoved"); !strings.Contains(note, d.Name) {
		t.Errorf("WorkloadRemoved event %q does not name the declared Performer", note)
	}
	get(t, workloadKey(d), &appsv1.Deployment{})

	// The declared Performer goes: the executor's Performer is on its own again.
	if err := k.Delete(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	got := waitPerformer(t, e, "unbound", func(p *v1alpha1.Performer) bool {
		return condition(p, v1alpha1.BoundCondition) == nil && p.Status.ServiceName == "performer-"+e.Name
	})
	if got.Status.GRPCEndpoint != "performer-"+e.Name+"."+ns+".svc.cluster.local:8080" {
		t.Errorf("grpcEndpoint = %q, want its own", got.Status.GRPCEndpoint)
	}
	waitDeployment(t, e, "its own Deployment again", func(*appsv1.Deployment) bool { return true })
}

// Git decides the version: a Performer asking for another image than the declared one runs is
// not served, and says to change the declaration in Git.
func TestOtherImageThanDeclaredStalls(t *testing.T) {
	t.Parallel()
	ns := env.Namespace(t)
	d, _ := bringUp(t, declared(ns, "my-avs"))
	e := executorMade(ns, "performer-1a2b3c-33334444", "v2.0.0")
	create(t, e)
	got := waitPerformer(t, e, "stalled", isStalled(v1alpha1.ImageNotDeclaredReason))
	if got.Status.Ready || got.Status.Phase != v1alpha1.PhaseFailed {
		t.Errorf("status: %s, want not ready and Failed", statusString(got))
	}
	c := condition(got, meta.ReadyCondition)
	for _, s := range []string{"registry.example.com/avs/performer:v2.0.0", "registry.example.com/avs/performer:v1.0.0", "my-avs", ns + "/my-executor", "in Git"} {
		if !strings.Contains(c.Message, s) {
			t.Errorf("Ready message %q does not mention %q", c.Message, s)
		}
	}
	if b := condition(got, v1alpha1.BoundCondition); b == nil || b.Status != metav1.ConditionFalse || b.Reason != v1alpha1.ImageNotDeclaredReason {
		t.Errorf("Bound = %+v, want False/ImageNotDeclared", b)
	}
	wantKstatus(t, got, status.FailedStatus)
	waitEvent(t, e, corev1.EventTypeWarning, v1alpha1.ImageNotDeclaredReason)
	noWorkload(t, e)

	// The declaration in Git moves to v2.0.0: the binding holds again once that version runs.
	d = getPerformer(t, d)
	d.Spec.Version = "v2.0.0"
	if err := k.Update(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	dep := waitDeployment(t, d, "v2.0.0", func(dep *appsv1.Deployment) bool {
		return dep.Spec.Template.Spec.Containers[0].Image == "registry.example.com/avs/performer:v2.0.0"
	})
	runPod(t, dep, "b")
	setDeploymentStatus(t, d, rolledOut)
	got = waitPerformer(t, e, "ready on v2.0.0", func(p *v1alpha1.Performer) bool { return isReady(p) && isBound("my-avs")(p) })
	wantKstatus(t, got, status.CurrentStatus)
}

// A Performer declared in Git keeps the pull policy it declares, Never included.
func TestDeclaredNeverPullPolicyIsKept(t *testing.T) {
	t.Parallel()
	ns := env.Namespace(t)
	d := declared(ns, "local-image", func(p *v1alpha1.Performer) { p.Spec.ImagePullPolicy = corev1.PullNever })
	create(t, d)
	dep := waitDeployment(t, d, "the Deployment", func(*appsv1.Deployment) bool { return true })
	if got := dep.Spec.Template.Spec.Containers[0].ImagePullPolicy; got != corev1.PullNever {
		t.Errorf("imagePullPolicy = %s, want Never as declared", got)
	}
}

// By default a Performer not declared in Git, with no declared Performer of its AVS to bind to,
// runs nothing: it waits, not Ready, and says to declare the performer in Git. Once one is
// declared it binds to it; once that one goes it waits again, and still runs nothing.
func TestUndeclaredPerformerWaitsForADeclaration(t *testing.T) {
	t.Parallel()
	ns := env.Namespace(t)
	e := executorMade(ns, "performer-1a2b3c-55556666", "v1.0.0")
	create(t, e)
	notDeclared := func(p *v1alpha1.Performer) bool {
		c := condition(p, meta.ReadyCondition)
		return p.Status.ObservedGeneration == p.Generation && c != nil && c.Status == metav1.ConditionFalse &&
			c.Reason == v1alpha1.NotDeclaredReason
	}
	got := waitPerformer(t, e, "waiting for a declaration", notDeclared)
	if got.Status.Ready || got.Status.Phase != v1alpha1.PhasePending || got.Status.GRPCEndpoint != "" {
		t.Errorf("status: %s, endpoint %q; want not ready, Pending, no endpoint", statusString(got), got.Status.GRPCEndpoint)
	}
	msg := condition(got, meta.ReadyCondition).Message
	for _, s := range []string{avs, ns, "declare", "in Git", v1alpha1.DeclarationAnnotation} {
		if !strings.Contains(msg, s) {
			t.Errorf("Ready message %q does not mention %q", msg, s)
		}
	}
	wantKstatus(t, got, status.InProgressStatus)
	waitEvent(t, e, corev1.EventTypeWarning, v1alpha1.NotDeclaredReason)
	noWorkload(t, e)

	d := declared(ns, "my-avs")
	create(t, d)
	waitPerformer(t, e, "bound", isBound("my-avs"))
	if err := k.Delete(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	waitPerformer(t, e, "waiting for a declaration again", func(p *v1alpha1.Performer) bool {
		return notDeclared(p) && condition(p, v1alpha1.BoundCondition) == nil
	})
	noWorkload(t, e)
}

// A declared Performer that is not ready does not capture the binding from a ready one, whatever
// their names: the executor's Performer binds to the ready one.
func TestBindingPrefersTheReadyDeclaredPerformer(t *testing.T) {
	t.Parallel()
	ns := env.Namespace(t)
	ready, _ := bringUp(t, declared(ns, "z-ready"))
	create(t, declared(ns, "a-unschedulable"))
	e := executorMade(ns, "performer-1a2b3c-77778888", "v1.0.0")
	create(t, e)
	got := waitPerformer(t, e, "ready through z-ready", func(p *v1alpha1.Performer) bool { return isReady(p) && isBound("z-ready")(p) })
	if got.Status.ServiceName != "performer-"+ready.Name {
		t.Errorf("serviceName = %q, want the ready declared Performer's", got.Status.ServiceName)
	}
}

// The Performers bound to a declared one are reconciled when what they mirror of it changes, not
// on every change of it: with a thousand Performers of one AVS, a label or a status field they do
// not read would reconcile them all.
func TestBoundPerformersIgnoreChangesTheyDoNotMirror(t *testing.T) {
	t.Parallel()
	ns := env.Namespace(t)
	d, pod := bringUp(t, declared(ns, "my-avs"))
	e := executorMade(ns, "performer-1a2b3c-9999aaaa", "v1.0.0")
	create(t, e)
	waitPerformer(t, e, "ready", isReady)
	time.Sleep(500 * time.Millisecond)
	before := getPerformer(t, e)
	reads := calls.readsOf(key(e))

	// A label and a status field that bound Performers do not mirror.
	ctx := context.Background()
	d = getPerformer(t, d)
	patch := client.MergeFrom(d.DeepCopy())
	d.Labels = map[string]string{"example.com/team": "a"}
	if err := k.Patch(ctx, d, patch); err != nil {
		t.Fatal(err)
	}
	d = getPerformer(t, d)
	patch = client.MergeFrom(d.DeepCopy())
	d.Status.LastHandledReconcileAt = "2026-12-01T00:00:00Z"
	if err := k.Status().Patch(ctx, d, patch); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if n := calls.readsOf(key(e)) - reads; n != 0 {
		t.Errorf("the bound Performer was reconciled %d times after changes it does not mirror", n)
	}
	if after := getPerformer(t, e); after.ResourceVersion != before.ResourceVersion {
		t.Errorf("the bound Performer changed from resourceVersion %s to %s", before.ResourceVersion, after.ResourceVersion)
	}

	// What it mirrors still reaches it at once: the declared Performer's pod stops being ready.
	setPodStatus(t, pod, corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse}}})
	waitPerformer(t, e, "not ready", func(p *v1alpha1.Performer) bool { return !p.Status.Ready })
}

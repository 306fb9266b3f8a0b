package performer_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/hourglass-gitops/hourglass-gitops/api/v1alpha1"
	"github.com/hourglass-gitops/hourglass-gitops/controller/internal/performer"
	"github.com/hourglass-gitops/hourglass-gitops/controller/workload"
)

func TestCreate(t *testing.T) {
	t.Parallel()
	ns := env.Namespace(t)
	p := newPerformer(ns, "my-avs")
	create(t, p)
	// The API server's answer to the create, before any controller acted: kstatus must not take
	// the Performer for ready (the CRD defaults status.observedGeneration to -1).
	if p.Status.ObservedGeneration != -1 {
		t.Errorf("observedGeneration of a new Performer = %d, want -1", p.Status.ObservedGeneration)
	}
	wantKstatus(t, p, status.InProgressStatus)

	dep := waitDeployment(t, p, "the Deployment", func(*appsv1.Deployment) bool { return true })
	var svc corev1.Service
	waitFor(t, "the Service", func() (bool, string) {
		err := k.Get(context.Background(), workloadKey(p), &svc)
		return err == nil, errString(err)
	})

	wantLabels := map[string]string{
		"app":                               "hourglass-performer",
		"hourglass.eigenlayer.io/performer": "my-avs",
		"hourglass.eigenlayer.io/avs":       avs,
		"app.kubernetes.io/name":            "hourglass-performer",
		"app.kubernetes.io/instance":        "my-avs",
		"app.kubernetes.io/version":         "v1.0.0",
		"app.kubernetes.io/component":       "performer",
		"app.kubernetes.io/part-of":         "hourglass",
		"app.kubernetes.io/managed-by":      "hourglass-controller",
	}
	for name, got := range map[string]map[string]string{
		"Deployment": dep.Labels, "pod template": dep.Spec.Template.Labels, "Service": svc.Labels,
	} {
		if diff := cmp.Diff(wantLabels, got); diff != "" {
			t.Errorf("%s labels (-want +got):\n%s", name, diff)
		}
	}
	wantSelector := map[string]string{"app": "hourglass-performer", "hourglass.eigenlayer.io/performer": "my-avs"}
	if diff := cmp.Diff(wantSelector, dep.Spec.Selector.MatchLabels); diff != "" {
		t.Errorf("Deployment selector (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantSelector, svc.Spec.Selector); diff != "" {
		t.Errorf("Service selector (-want +got):\n%s", diff)
	}
	if got := *dep.Spec.Replicas; got != 1 {
		t.Errorf("replicas = %d, want 1", got)
	}
	c := dep.Spec.Template.Spec.Containers[0]
	if c.Image != "registry.example.com/avs/performer:v1.0.0" {
		t.Errorf("image = %q, want the version as tag", c.Image)
	}
	if diff := cmp.Diff([]corev1.ContainerPort{{Name: "grpc", ContainerPort: 9090, Protocol: corev1.ProtocolTCP}}, c.Ports); diff != "" {
		t.Errorf("container ports (-want +got):\n%s", diff)
	}
	if c.ReadinessProbe == nil || c.ReadinessProbe.GRPC == nil || c.ReadinessProbe.GRPC.Port != 9090 ||
		c.LivenessProbe == nil || c.LivenessProbe.GRPC == nil || c.LivenessProbe.GRPC.Port != 9090 {
		t.Errorf("want gRPC liveness and readiness probes on 9090, got %+v / %+v", c.LivenessProbe, c.ReadinessProbe)
	}
	psc := dep.Spec.Template.Spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod security context = %+v, want runAsNonRoot and RuntimeDefault seccomp", psc)
	}
	if sc := c.SecurityContext; sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.Capabilities == nil || !cmp.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("container security context = %+v, want no privilege escalation and all capabilities dropped", sc)
	}
	if dep.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType || dep.Spec.Strategy.RollingUpdate == nil ||
		*dep.Spec.Strategy.RollingUpdate.MaxSurge != intstr.FromInt32(1) || *dep.Spec.Strategy.RollingUpdate.MaxUnavailable != intstr.FromInt32(0) {
		t.Errorf("strategy = %+v, want a rolling update surging 1 with 0 unavailable", dep.Spec.Strategy)
	}
	wantPorts := []corev1.ServicePort{{Name: "grpc", Protocol: corev1.ProtocolTCP, Port: 9090, TargetPort: intstr.FromString("grpc")}}
	if diff := cmp.Diff(wantPorts, svc.Spec.Ports); diff != "" {
		t.Errorf("Service ports (-want +got):\n%s", diff)
	}
	if svc.Spec.Type != corev1.ServiceTypeClusterIP {
		t.Errorf("Service type = %s, want ClusterIP", svc.Spec.Type)
	}

	got := waitPerformer(t, p, "the first status", func(p *v1alpha1.Performer) bool { return p.Status.ObservedGeneration == 1 })
	if got.Status.Phase != v1alpha1.PhasePending || got.Status.Ready {
		t.Errorf("before the rollout: phase %s ready %v, want Pending and not ready", got.Status.Phase, got.Status.Ready)
	}
	if c := condition(got, meta.ReconcilingCondition); c == nil || c.Status != metav1.ConditionTrue || c.Reason != meta.ProgressingReason {
		t.Errorf("Reconciling = %+v, want True/Progressing", c)
	}
	if condition(got, meta.StalledCondition) != nil {
		t.Error("Stalled must be absent while the rollout progresses")
	}
	if got.Status.ServiceName != "performer-my-avs" || got.Status.GRPCEndpoint != "performer-my-avs."+ns+".svc.cluster.local:9090" {
		t.Errorf("serviceName %q grpcEndpoint %q", got.Status.ServiceName, got.Status.GRPCEndpoint)
	}
	wantKstatus(t, got, status.InProgressStatus)

	pod := runPod(t, dep, "a")
	setDeploymentStatus(t, p, rolledOut)
	got = waitPerformer(t, p, "ready", isReady)
	if got.Status.Phase != v1alpha1.PhaseRunning || !got.Status.Ready || got.Status.PodName != pod.Name ||
		got.Status.NodeName != pod.Spec.NodeName || got.Status.NodeName == "" ||
		got.Status.CurrentImage != "registry.example.com/avs/performer:v1.0.0" || got.Status.ReadyTime == nil {
		t.Errorf("ready status: %s podName=%q nodeName=%q readyTime=%v", statusString(got), got.Status.PodName, got.Status.NodeName, got.Status.ReadyTime)
	}
	if got.Status.LastUpgrade != nil {
		t.Errorf("the first rollout is no upgrade, lastUpgrade = %v", got.Status.LastUpgrade)
	}
	if condition(got, meta.ReconcilingCondition) != nil || condition(got, meta.StalledCondition) != nil {
		t.Errorf("Reconciling and Stalled must be absent once ready: %s", statusString(got))
	}
	wantKstatus(t, got, status.CurrentStatus)
	waitEvent(t, p, corev1.EventTypeNormal, "Ready")

	// The whole rollout: one status write when it starts, one when it is done, and one event.
	if n := countWrites(ns, "patch/status Performer/my-avs"); n != 2 {
		t.Errorf("%d status writes for the first rollout, want 2: %v", n, calls.writesIn(ns))
	}
	if diff := cmp.Diff([]string{"Normal/Ready"}, eventsOf(t, p)); diff != "" {
		t.Errorf("events of the first rollout (-want +got):\n%s", diff)
	}
	// What the controller applied it remembers: it has no need to ask the API server again.
	if d := calls.dryRunsIn(ns); len(d) > 0 {
		t.Errorf("dry runs during the first rollout: %q", d)
	}
}

func TestUpgradeRollsOut(t *testing.T) {
	t.Parallel()
	ns := env.Namespace(t)
	p, oldPod := bringUp(t, newPerformer(ns, "up"))
	readyTime := p.Status.ReadyTime
	// A first rollout done within the quiet period is told by one status write and no event; on
	// a busy machine it may have been written as Pending first, and then its end is an event.
	var wantEvents []string
	if countWrites(ns, "patch/status Performer/up") > 1 {
		wantEvents = append(wantEvents, "Normal/Ready")
	}
	wantEvents = append(wantEvents, "Normal/UpgradeStarted", "Normal/UpgradeSucceeded")

	p.Spec.Version = "v1.1.0"
	if err := k.Update(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	dep := waitDeployment(t, p, "the new image", func(d *appsv1.Deployment) bool {
		return d.Spec.Template.Spec.Containers[0].Image == "registry.example.com/avs/performer:v1.1.0"
	})
	if dep.Spec.Template.Labels["app.kubernetes.io/version"] != "v1.1.0" {
		t.Errorf("pod template version label = %q", dep.Spec.Template.Labels["app.kubernetes.io/version"])
	}
	got := waitPerformer(t, p, "Upgrading", func(p *v1alpha1.Performer) bool {
		return p.Status.ObservedGeneration == 2 && p.Status.Phase == v1alpha1.PhaseUpgrading
	})
	if got.Status.LastUpgrade == nil || got.Status.CurrentImage != "registry.example.com/avs/performer:v1.0.0" || got.Status.Ready {
		t.Errorf("during the upgrade: lastUpgrade=%v %s", got.Status.LastUpgrade, statusString(got))
	}
	wantKstatus(t, got, status.InProgressStatus)
	upgrading, lastUpgrade := got, got.Status.LastUpgrade
	waitEvent(t, p, corev1.EventTypeNormal, "UpgradeStarted")

	// The steps of the rollout (the new ReplicaSet observed, then the surge: the new pod is ready
	// while the old one still runs) change nothing in the status, so they cost no write.
	newPod := runPod(t, dep, "b")
	for i, step := range []func(d *appsv1.Deployment){
		func(d *appsv1.Deployment) {
			d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: 2, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1}
		},
		func(d *appsv1.Deployment) {
			d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: 2, UpdatedReplicas: 1, ReadyReplicas: 2, AvailableReplicas: 2}
		},
	} {
		reads := calls.readsOf(key(p))
		setDeploymentStatus(t, p, step)
		waitFor(t, fmt.Sprintf("a reconcile of rollout step %d", i), func() (bool, string) {
			return calls.readsOf(key(p)) > reads, "no reconcile yet"
		})
	}
	time.Sleep(300 * time.Millisecond) // a reconcile still running would write now
	got = getPerformer(t, p)
	if got.ResourceVersion != upgrading.ResourceVersion {
		t.Errorf("a rollout step changed the status: %s", statusString(got))
	}
	if got.Status.Phase != v1alpha1.PhaseUpgrading {
		t.Errorf("phase with the old pod still running = %s, want Upgrading", got.Status.Phase)
	}
	wantKstatus(t, got, status.InProgressStatus)

	if err := k.Delete(context.Background(), oldPod, client.GracePeriodSeconds(0)); err != nil {
		t.Fatal(err)
	}
	setDeploymentStatus(t, p, rolledOut)
	got = waitPerformer(t, p, "ready on the new version", func(p *v1alpha1.Performer) bool {
		return isReady(p) && p.Status.CurrentImage == "registry.example.com/avs/performer:v1.1.0"
	})
	if got.Status.Phase != v1alpha1.PhaseRunning || got.Status.PodName != newPod.Name {
		t.Errorf("after the upgrade: podName=%q %s", got.Status.PodName, statusString(got))
	}
	if !got.Status.LastUpgrade.Equal(lastUpgrade) {
		t.Errorf("lastUpgrade moved from %v to %v when the upgrade finished", lastUpgrade, got.Status.LastUpgrade)
	}
	if got.Status.ReadyTime == nil || got.Status.ReadyTime.Before(readyTime) {
		t.Errorf("readyTime %v is not after the first readyTime %v", got.Status.ReadyTime, readyTime)
	}
	wantKstatus(t, got, status.CurrentStatus)
	if note := waitEvent(t, p, corev1.EventTypeNormal, "UpgradeSucceeded"); !strings.Contains(note, "v1.0.0") || !strings.Contains(note, "v1.1.0") {
		t.Errorf("UpgradeSucceeded note %q does not name both images", note)
	}
	if diff := cmp.Diff(wantEvents, eventsOf(t, p)); diff != "" {
		t.Errorf("events of the first rollout and the upgrade (-want +got):\n%s", diff)
	}
	if d := calls.dryRunsIn(ns); len(d) > 0 {
		t.Errorf("dry runs during the rollouts: %q", d)
	}
}

func TestHardwareMapping(t *testing.T) {
	t.Parallel()
	ns := env.Namespace(t)
	gpuTol := corev1.Toleration{Key: "nvidia.com/gpu", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}
	rl := func(kv ...string) corev1.ResourceList {
		l := corev1.ResourceList{}
		for i := 0; i < len(kv); i += 2 {
			l[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
		}
		return l
	}
	type want struct {
		nodeSelector map[string]string
		tolerations  []corev1.Toleration
		affinity     *corev1.Affinity
		runtimeClass *string
		resources    corev1.ResourceRequirements
	}
	str := func(s string) *string { return &s }
	for _, tc := range []struct {
		name string
		hw   v1alpha1.HardwareRequirements
		want want
	}{
		{"gpu", v1alpha1.HardwareRequirements{GPUType: "NVIDIA-A100-SXM4-80GB", GPUCount: 2}, want{
			nodeSelector: map[string]string{"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"},
			tolerations:  []corev1.Toleration{gpuTol},
			resources:    corev1.ResourceRequirements{Requests: rl("nvidia.com/gpu", "2"), Limits: rl("nvidia.com/gpu", "2")},
		}},
		{"gpu-family", v1alpha1.HardwareRequirements{GPUType: "nvidia-l4", GPUCount: 1}, want{
			tolerations: []corev1.Toleration{gpuTol},
			affinity: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{
					Key: "nvidia.com/gpu.product", Operator: corev1.NodeSelectorOpIn, Values: []string{"NVIDIA-L4"}}}}}}}},
			resources: corev1.ResourceRequirements{Requests: rl("nvidia.com/gpu", "1"), Limits: rl("nvidia.com/gpu", "1")},
		}},
		{"sgx", v1alpha1.HardwareRequirements{TEERequired: true, TEEType: v1alpha1.TEETypeSGX}, want{
			nodeSelector: map[string]string{"intel.feature.node.kubernetes.io/sgx": "true"},
			resources:    corev1.ResourceRequirements{Requests: rl("sgx.intel.com/epc", "10Mi"), Limits: rl("sgx.intel.com/epc", "10Mi")},
		}},
		{"sev-snp", v1alpha1.HardwareRequirements{TEERequired: true, TEEType: v1alpha1.TEETypeSEVSNP}, want{
			nodeSelector: map[string]string{"feature.node.kubernetes.io/cpu-security.sev.snp.enabled": "true"},
			runtimeClass: str("kata-qemu-snp"),
		}},
		{"tdx", v1alpha1.HardwareRequirements{TEERequired: true, TEEType: v1alpha1.TEETypeTDX}, want{
			nodeSelector: map[string]string{"feature.node.kubernetes.io/cpu-security.tdx.enabled": "true"},
			runtimeClass: str("kata-qemu-tdx"),
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hw := tc.hw
			p := newPerformer(ns, tc.name, func(p *v1alpha1.Performer) { p.Spec.HardwareRequirements = &hw })
			create(t, p)
			dep := waitDeployment(t, p, "the Deployment", func(*appsv1.Deployment) bool { return true })
			pod := dep.Spec.Template.Spec
			got := want{
				nodeSelector: pod.NodeSelector, tolerations: pod.Tolerations, affinity: pod.Affinity,
				runtimeClass: pod.RuntimeClassName, resources: pod.Containers[0].Resources,
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(want{}), cmp.Comparer(func(a, b resource.Quantity) bool { return a.Cmp(b) == 0 })); diff != "" {
				t.Errorf("placement on the Deployment (-want +got):\n%s", diff)
			}
			if dep.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
				t.Errorf("strategy = %s, want Recreate for a hardware-bound performer", dep.Spec.Strategy.Type)
			}
		})
	}
}

func TestExplicitSchedulingWins(t *testing.T) {
	t.Parallel()
	ns := env.Namespace(t)
	p := newPerformer(ns, "explicit", func(p *v1alpha1.Performer) {
		p.Spec.HardwareRequirements = &v1alpha1.HardwareRequirements{TEERequired: true, TEEType: v1alpha1.TEETypeSEVSNP}
		rc := "kata-cc-isolation"
		p.Spec.Scheduling = &v1alpha1.Scheduling{
			NodeSelector: map[string]string{"feature.node.kubernetes.io/cpu-security.sev.snp.enabled": "yes"},
			RuntimeClass: &rc,
		}
		p.Spec.UpgradeStrategy = &v1alpha1.UpgradeStrategy{Type: v1alpha1.RollingUpdateStrategy}
	})
	create(t, p)
	dep := waitDeployment(t, p, "the Deployment", func(*appsv1.Deployment) bool { return true })
	pod := dep.Spec.Template.Spec
	if diff := cmp.Diff(map[string]string{"feature.node.kubernetes.io/cpu-security.sev.snp.enabled": "yes"}, pod.NodeSelector); diff != "" {
		t.Errorf("node selector (-want +got):\n%s", diff)
	}
	if pod.RuntimeClassName == nil || *pod.RuntimeClassName != "kata-cc-isolation" {
		t.Errorf("runtime class = %v, want the explicit kata-cc-isolation", pod.RuntimeClassName)
	}
	if dep.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType {
		t.Errorf("strategy = %s, want the explicit RollingUpdate", dep.Spec.Strategy.Type)
	}
}

func TestDeleteRemovesTheWorkload(t *testing.T) {
	t.Parallel()
	ns := env.Namespace(t)
	p := newPerformer(ns, "gone")
	create(t, p)
	dep := waitDeployment(t, p, "the Deployment", func(*appsv1.Deployment) bool { return true })
	var svc corev1.Service
	waitFor(t, "the Service", func() (bool, string) {
		err := k.Get(context.Background(), workloadKey(p), &svc)
		return err == nil, errString(err)
	})
	// The garbage collector deletes the workload when the controller does not: a controller owner
	// reference to the Performer, which also blocks the owner's foreground deletion.
	yes := true
	want := []metav1.OwnerReference{{
		APIVersion: "hourglass.eigenlayer.io/v1alpha1", Kind: "Performer", Name: "gone", UID: p.UID,
		Controller: &yes, BlockOwnerDeletion: &yes,
	}}
	if diff := cmp.Diff(want, dep.OwnerReferences); diff != "" {
		t.Errorf("Deployment owner references (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, svc.OwnerReferences); diff != "" {
		t.Errorf("Service owner references (-want +got):\n%s", diff)
	}

	// envtest runs no garbage collector: the workload goes because the controller deletes it.
	if err := k.Delete(context.Background(), p); err != nil {
		t.Fatalf("deleting the Performer: %v", err)
	}
	for _, obj := range []client.Object{&appsv1.Deployment{}, &corev1.Service{}} {
		waitFor(t, fmt.Sprintf("the %T to be deleted", obj), func() (bool, string) {
			err := k.Get(context.Background(), workloadKey(p), obj)
			return apierrors.IsNotFound(err), errString(err)
		})
	}
}

// A workload of a deleted Performer's name that no Performer controls is not the controller's to
// delete, even with the performer labels.
func TestDeleteLeavesOtherWorkloadsAlone(t *testing.T) {
	t.Parallel()
	ns := env.Namespace(t)
	ghost := newPerformer(ns, "ghost")
	desired, err := workload.Deployment(ghost)
	if err != nil {
		t.Fatal(err)
	}
	desired.OwnerReferences = nil
	if err := k.Apply(context.Background(), desired, client.FieldOwner("someone-else")); err != nil {
		t.Fatal(err)
	}
	var dep appsv1.Deployment
	if err := k.Get(context.Background(), workloadKey(ghost), &dep); err != nil {
		t.Fatal(err)
	}
	// A pod with the performer label makes the controller reconcile the missing Performer.
	reads := calls.readsOf(key(ghost))
	runPod(t, &dep, "a")
	waitFor(t, "a reconcile of the missing Performer", func() (bool, string) {
		return calls.readsOf(key(ghost)) > reads, "no reconcile yet"
	})
	time.Sleep(300 * time.Millisecond) // a delete still under way would land now
	if err := k.Get(context.Background(), workloadKey(ghost), &appsv1.Deployment{}); err != nil {
		t.Errorf("the Deployment no Performer controls is gone: %v", err)
	}
	for _, w := range calls.writesIn(ns) {
		if strings.Contains(w, " delete ") {
			t.Errorf("the controller deleted something: %s", w)
		}
	}
}

func TestForegroundDeletionIsTerminating(t *testing.T) {
	t.Parallel()
	ns := env.Namespace(t)
	p, _ := bringUp(t, newPerformer(ns, "fg"))
	// With foreground deletion the Performer waits for the garbage collector (absent in envtest)
	// to delete its dependents first, so it stays visible with a deletion timestamp.
	if err := k.Delete(context.Background(), p, client.PropagationPolicy(metav1.DeletePropagationForeground)); err != nil {
		t.Fatal(err)
	}
	got := waitPerformer(t, p, "Terminating", func(p *v1alpha1.Performer) bool { return p.Status.Phase == v1alpha1.PhaseTerminating })
	wantKstatus(t, got, status.TerminatingStatus)
}

func TestDriftIsCorrected(t *testing.T) {
	t.Parallel()
	ns := env.Namespace(t)
	p := newPerformer(ns, "drift")
	create(t, p)
	dep := waitDeployment(t, p, "the Deployment", func(*appsv1.Deployment) bool { return true })
	wantImage := dep.Spec.Template.Spec.Containers[0].Image

	dep.Spec.Replicas = ptr(int32(3))
	dep.Spec.Template.Spec.Containers[0].Image = "evil.example.com/miner:latest"
	delete(dep.Labels, "hourglass.eigenlayer.io/avs")
	dep.Annotations = map[string]string{"example.com/note": "someone else's"}
	if err := k.Update(context.Background(), dep); err != nil {
		t.Fatal(err)
	}
	dep = waitDeployment(t, p, "the drift to be corrected", func(d *appsv1.Deployment) bool {
		return *d.Spec.Replicas == 1 && d.Spec.Template.Spec.Containers[0].Image == wantImage && d.Labels["hourglass.eigenlayer.io/avs"] == avs
	})
	if dep.Annotations["example.com/note"] != "someone else's" {
		t.Error("a field the controller does not own was removed")
	}

	// A forced apply by another manager takes fields over without touching the controller's
	// managed-fields entry's values: it must still be seen, also once the controller has found
	// the Deployment as desired before (and remembers that).
	time.Sleep(300 * time.Millisecond)
	forced := appsv1ac.Deployment(dep.Name, ns).WithSpec(appsv1ac.DeploymentSpec().WithTemplate(
		corev1ac.PodTemplateSpec().WithSpec(corev1ac.PodSpec().WithContainers(
			corev1ac.Container().WithName(dep.Spec.Template.Spec.Containers[0].Name).WithImage("evil.example.com/miner:forced")))))
	if err := k.Apply(context.Background(), forced, client.FieldOwner("someone-else"), client.ForceOwnership); err != nil {
		t.Fatal(err)
	}
	waitDeployment(t, p, "the forced image to be corrected", func(d *appsv1.Deployment) bool {
		return d.Spec.Template.Spec.Containers[0].Image == wantImage
	})

	var svc corev1.Service
	get(t, workloadKey(p), &svc)
	svc.Spec.Ports[0].TargetPort = intstr.FromInt32(1234)
	svc.Spec.Selector = map[string]string{"app": "something-else"}
	if err := k.Update(context.Background(), &svc); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the Service to be restored", func() (bool, string) {
		var s corev1.Service
		if err := k.Get(context.Background(), workloadKey(p), &s); err != nil {
			return false, err.Error()
		}
		ok := len(s.Spec.Ports) == 1 && s.Spec.Ports[0].TargetPort == intstr.FromString("grpc") &&
			s.Spec.Selector["hourglass.eigenlayer.io/performer"] == "drift" && s.Spec.Selector["app"] == "hourglass-performer"
		return ok, "ports " + portsString(s.Spec.Ports)
	})

	// The port number is the key of its list entry: applying the controller's entry again would
	// add a second "grpc" port beside the edited one, which the API server refuses.
	get(t, workloadKey(p), &svc)
	svc.Spec.Ports[0].Port = 9999
	if err := k.Update(context.Background(), &svc); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the Service's port to be restored", func() (bool, string) {
		var s corev1.Service
		if err := k.Get(context.Background(), workloadKey(p), &s); err != nil {
			return false, err.Error()
		}
		return len(s.Spec.Ports) == 1 && s.Spec.Ports[0].Port == 9090 && s.Spec.Ports[0].Name == "grpc", "ports " + portsString(s.Spec.Ports)
	})
	if got := getPerformer(t, p); condition(got, "Stalled") != nil {
		t.Errorf("the Performer stalled over a hand-edited port: %+v", condition(got, "Stalled"))
	}

	// A Deployment deleted by hand comes back.
	if err := k.Delete(context.Background(), dep); err != nil {
		t.Fatal(err)
	}
	waitDeployment(t, p, "the Deployment to be recreated", func(d *appsv1.Deployment) bool { return d.UID != dep.UID })
}

func TestInvalidSpecsAreRejectedByTheCRD(t *testing.T) {
	t.Parallel()
	ns := env.Namespace(t)
	for _, tc := range []struct {
		name   string
		mutate func(spec map[string]any)
		field  string
		detail string
	}{
		{"bad avsAddress", func(s map[string]any) { s["avsAddress"] = "0x1234" }, "spec.avsAddress", `should match '^0x[0-9a-fA-F]{40}$'`},
		{"avsAddress without 0x", func(s map[string]any) { s["avsAddress"] = "1234567890abcdef1234567890abcdef1234567890" }, "spec.avsAddress", "should match"},
		{"empty image", func(s map[string]any) { s["image"] = "" }, "spec.image", "should be at least 1 chars long"},
		{"grpcPort 0", func(s map[string]any) { s["config"] = map[string]any{"grpcPort": int64(0)} }, "spec.config.grpcPort", "should be greater than or equal to 1"},
		{"grpcPort 70000", func(s map[string]any) { s["config"] = map[string]any{"grpcPort": int64(70000)} }, "spec.config.grpcPort", "should be less than or equal to 65535"},
		{"gpuCount -1", func(s map[string]any) { s["hardwareRequirements"] = map[string]any{"gpuCount": int64(-1)} }, "spec.hardwareRequirements.gpuCount", "should be greater than or equal to 0"},
		{"teeRequired without teeType", func(s map[string]any) { s["hardwareRequirements"] = map[string]any{"teeRequired": true} }, "spec.hardwareRequirements", "teeType is required when teeRequired is true"},
		{"unknown teeType", func(s map[string]any) { s["hardwareRequirements"] = map[string]any{"teeType": "trustzone"} }, "spec.hardwareRequirements.teeType", "Unsupported value"},
		{"name too long for performer-<name>", nil, "metadata.name", "must be at most 53 characters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := map[string]any{"avsAddress": avs, "image": "example.com/performer:v1"}
			name := "invalid"
			if tc.mutate != nil {
				tc.mutate(spec)
			} else {
				name = "invalid-" + strings.Repeat("x", 46) // 54 characters
			}
			u := &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "hourglass.eigenlayer.io/v1alpha1", "kind": "Performer",
				"metadata": map[string]any{"name": name, "namespace": ns},
				"spec":     spec,
			}}
			err := k.Create(context.Background(), u)
			if !apierrors.IsInvalid(err) {
				t.Fatalf("create: got %v, want an Invalid error", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, `Performer.hourglass.eigenlayer.io "`+name+`" is invalid`) || !strings.Contains(msg, tc.field) || !strings.Contains(msg, tc.detail) {
				t.Errorf("error %q does not name the object, field %s and %q", msg, tc.field, tc.detail)
			}
		})
	}
}

// A spec the schema accepts but no workload can come from stalls with InvalidSpec and applies nothing.
func TestInvalidSpecStalls(t *testing.T) {
	t.Parallel()
	ns := env.Namespace(t)
	// The same variable set twice: the schema cannot see across the two fields.
	long := newPerformer(ns, "duplicate-env", func(p *v1alpha1.Performer) {
		p.Spec.Config.Environment = map[string]string{"RPC_URL": "http://a"}
		p.Spec.Config.EnvironmentFrom = []v1alpha1.EnvVarFrom{{Name: "RPC_URL", ValueFrom: corev1.EnvVarSource{
			SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}, Key: "k"}}}}
	})
	create(t, long)
	got := waitPerformer(t, long, "Stalled", isStalled(v1alpha1.InvalidSpecReason))
	if c := condition(got, meta.StalledCondition); !strings.Contains(c.Message, "RPC_URL") {
		t.Errorf("Stalled message %q does not name the variable", c.Message)
	}
	if got.Status.Phase != v1alpha1.PhaseFailed || condition(got, meta.ReconcilingCondition) != nil {
		t.Errorf("want phase Failed without Reconciling: %s", statusString(got))
	}
	wantKstatus(t, got, status.FailedStatus)
	waitEvent(t, long, corev1.EventTypeWarning, v1alpha1.InvalidSpecReason)
	err := k.Get(context.Background(), workloadKey(long), &appsv1.Deployment{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("a Deployment exists for an invalid Performer (Get: %v)", err)
	}

	// The API server rejects the Deployment: a toleration with operator Exists cannot have a value.
	bad := newPerformer(ns, "bad-toleration", func(p *v1alpha1.Performer) {
		p.Spec.Scheduling = &v1alpha1.Scheduling{Tolerations: []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists, Value: "v"}}}
	})
	create(t, bad)
	got = waitPerformer(t, bad, "Stalled", isStalled(v1alpha1.InvalidSpecReason))
	if c := condition(got, meta.StalledCondition); !strings.Contains(c.Message, "toleration") {
		t.Errorf("Stalled message %q does not say what the API server rejected", c.Message)
	}
	wantKstatus(t, got, status.FailedStatus)
}

func TestReconcileRequestedAtIsEchoed(t *testing.T) {
	t.Parallel()
	ns := env.Namespace(t)
	p, _ := bringUp(t, newPerformer(ns, "requested"))
	reads := calls.readsOf(key(p))
	for _, at := range []string{"2025-01-02T03:04:05Z", "2025-01-02T03:05:00Z"} {
		patch := client.MergeFrom(p.DeepCopy())
		p.Annotations[meta.ReconcileRequestAnnotation] = at
		if err := k.Patch(context.Background(), p, patch); err != nil {
			t.Fatal(err)
		}
		got := waitPerformer(t, p, "lastHandledReconcileAt "+at, func(p *v1alpha1.Performer) bool {
			return p.Status.LastHandledReconcileAt == at
		})
		wantKstatus(t, got, status.CurrentStatus)
	}
	if calls.readsOf(key(p)) <= reads {
		t.Error("the annotation did not trigger a reconcile")
	}
}

// A converged Performer stays converged without a single write, however often it is reconciled.
func TestSteadyStateWritesNothing(t *testing.T) {
	t.Parallel()
	ns := env.Namespace(t)
	p, pod := bringUp(t, newPerformer(ns, "steady", func(p *v1alpha1.Performer) {
		// Exercise everything that has to compare equal: env, quantities, probes, scheduling.
		p.Spec.Config.Environment = map[string]string{"B": "2", "A": "1"}
		p.Spec.Config.EnvironmentFrom = []v1alpha1.EnvVarFrom{{Name: "NODE", ValueFrom: corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}}}
		p.Spec.Resources = &corev1.ResourceRequirements{Requests: corev1.ResourceList{"cpu": resource.MustParse("0.5"), "memory": resource.MustParse("1024Mi")}}
		p.Spec.HardwareRequirements = &v1alpha1.HardwareRequirements{GPUType: "nvidia-h100", GPUCount: 1}
		p.Spec.PodAnnotations = map[string]string{"example.com/a": "b"}
		p.Spec.Probes = &v1alpha1.Probes{Readiness: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
			HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromInt32(8080)}}}}
		p.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "regcred"}}
	}))
	// Let the events of the rollout settle, then start counting.
	time.Sleep(500 * time.Millisecond)
	writes := calls.writesIn(ns)
	reads := calls.readsOf(key(p))
	before := getPerformer(t, p)

	// Each of these reaches the controller through a watch and makes it reconcile.
	ctx := context.Background()
	for i, change := range []func() error{
		func() error { return touch(ctx, &appsv1.Deployment{}, workloadKey(p), "1") },
		func() error { return touch(ctx, &corev1.Service{}, workloadKey(p), "2") },
		func() error { return touch(ctx, &corev1.Pod{}, key(pod), "3") },
		func() error { return touch(ctx, &appsv1.Deployment{}, workloadKey(p), "4") },
		func() error { return touch(ctx, &corev1.Pod{}, key(pod), "5") },
	} {
		if err := change(); err != nil {
			t.Fatalf("touch %d: %v", i, err)
		}
		want := reads + i + 1
		waitFor(t, "a reconcile", func() (bool, string) {
			return calls.readsOf(key(p)) >= want, "no reconcile yet"
		})
	}
	time.Sleep(300 * time.Millisecond) // a reconcile still running would write now

	if got := calls.readsOf(key(p)) - reads; got < 5 {
		t.Errorf("%d reconciles, want at least 5", got)
	}
	if diff := cmp.Diff(writes, calls.writesIn(ns)); diff != "" {
		t.Errorf("a converged Performer caused writes (-before +after):\n%s", diff)
	}
	after := getPerformer(t, p)
	if after.ResourceVersion != before.ResourceVersion {
		t.Errorf("the Performer changed from resourceVersion %s to %s", before.ResourceVersion, after.ResourceVersion)
	}
}

// A restarted controller remembers nothing of what it applied: it asks the API server, with a dry
// run, whether an apply would change each workload, and writes nothing where none would.
func TestRestartWritesNothing(t *testing.T) {
	t.Parallel()
	ns := env.Namespace(t)
	p, _ := bringUp(t, newPerformer(ns, "restart", func(p *v1alpha1.Performer) {
		p.Spec.Config.Environment = map[string]string{"B": "2", "A": "1"}
		p.Spec.Resources = &corev1.ResourceRequirements{Requests: corev1.ResourceList{"cpu": resource.MustParse("0.5"), "memory": resource.MustParse("1024Mi")}}
		p.Spec.HardwareRequirements = &v1alpha1.HardwareRequirements{GPUType: "nvidia-h100", GPUCount: 1}
	}))
	time.Sleep(500 * time.Millisecond)
	before := getPerformer(t, p)

	restarted := &callLog{}
	stop, err := runManager(env, restarted, []string{ns}, false)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	dryRuns := func() []string { return restarted.dryRunsIn(ns) }
	waitFor(t, "the restarted controller to check the workload", func() (bool, string) {
		return len(dryRuns()) >= 2, fmt.Sprintf("dry runs %q", dryRuns())
	})
	// A change of the Deployment's status reconciles again, from what the dry run found.
	ctx := context.Background()
	reads := restarted.readsOf(key(p))
	if err := touch(ctx, &appsv1.Deployment{}, workloadKey(p), "1"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a reconcile", func() (bool, string) { return restarted.readsOf(key(p)) > reads, "no reconcile yet" })
	time.Sleep(300 * time.Millisecond)

	want := []string{ns + " patch *v1.Deployment/performer-restart", ns + " patch *v1.Service/performer-restart"}
	got := dryRuns()
	sort.Strings(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("dry runs (-want +got):\n%s", diff)
	}
	if w := restarted.writesIn(ns); len(w) > 0 {
		t.Errorf("the restarted controller wrote %q", w)
	}
	if after := getPerformer(t, p); after.ResourceVersion != before.ResourceVersion {
		t.Errorf("the Performer changed from resourceVersion %s to %s", before.ResourceVersion, after.ResourceVersion)
	}
}

// What changed while the controller was down is applied after its restart; what did not is left
// alone. The workload here has no performer labels, so the running manager does not see it.
func TestRestartAppliesOnlyWhatChanged(t *testing.T) {
	t.Parallel()
	ns := env.Namespace(t)
	ctx := context.Background()
	log := &callLog{}
	wc, err := client.NewWithWatch(env.Config, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	c := interceptor.NewClient(wc, log.funcs())
	labels := map[string]string{"app": "restart-check"}
	deployment := func(image string) *appsv1ac.DeploymentApplyConfiguration {
		return appsv1ac.Deployment("restart-check", ns).WithSpec(appsv1ac.DeploymentSpec().
			WithSelector(metav1ac.LabelSelector().WithMatchLabels(labels)).
			WithTemplate(corev1ac.PodTemplateSpec().WithLabels(labels).WithSpec(corev1ac.PodSpec().WithContainers(
				corev1ac.Container().WithName("performer").WithImage(image).
					WithResources(corev1ac.ResourceRequirements().WithRequests(corev1.ResourceList{"cpu": resource.MustParse("500m")}))))))
	}
	// A new target port changes a value, not the fields the controller owns.
	service := func(target string) *corev1ac.ServiceApplyConfiguration {
		return corev1ac.Service("restart-check", ns).WithSpec(corev1ac.ServiceSpec().WithSelector(labels).
			WithPorts(corev1ac.ServicePort().WithName("grpc").WithPort(9090).WithTargetPort(intstr.FromString(target))))
	}
	// What the controller applied before it stopped.
	for _, obj := range []runtime.ApplyConfiguration{deployment("example.com/p:v1"), service("grpc")} {
		if err := k.Apply(ctx, obj, client.FieldOwner(performer.FieldManager), client.ForceOwnership); err != nil {
			t.Fatal(err)
		}
	}

	for _, tc := range []struct {
		name    string
		desired any
		want    bool
	}{
		{"same Deployment", deployment("example.com/p:v1"), false},
		{"same Service", service("grpc"), false},
		{"new image", deployment("example.com/p:v2"), true},
		{"new target port", service("grpc-tls"), true},
		{"applied image", deployment("example.com/p:v2"), false},
	} {
		writes := len(log.writesIn(ns))
		applied, err := performer.ApplyAsRestarted(ctx, c, tc.desired)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if applied != tc.want || len(log.writesIn(ns)) != writes+map[bool]int{false: 0, true: 1}[tc.want] {
			t.Errorf("%s: applied %v, want %v; writes %q", tc.name, applied, tc.want, log.writesIn(ns)[writes:])
		}
	}
	var dep appsv1.Deployment
	get(t, types.NamespacedName{Namespace: ns, Name: "restart-check"}, &dep)
	if got := dep.Spec.Template.Spec.Containers[0].Image; got != "example.com/p:v2" {
		t.Errorf("image %q after the restart, want example.com/p:v2", got)
	}
	if d := log.dryRunsIn(ns); len(d) != 5 {
		t.Errorf("%d dry runs, want one per apply after the restart: %q", len(d), d)
	}
}

// touch labels an object, which its watchers see as an update. (A label, because an annotation
// change bumps a Deployment's generation and starts a rollout.)
func touch(ctx context.Context, obj client.Object, k8sKey client.ObjectKey, value string) error {
	if err := k.Get(ctx, k8sKey, obj); err != nil {
		return err
	}
	patch := client.MergeFrom(obj.DeepCopyObject().(client.Object))
	l := obj.GetLabels()
	if l == nil {
		l = map[string]string{}
	}
	l["example.com/touched"] = value
	obj.SetLabels(l)
	return k.Patch(ctx, obj, patch)
}

func TestImagePullFailureStalls(t *testing.T) {
	t.Parallel()
	ns := env.Namespace(t)
	p := newPerformer(ns, "pull", func(p *v1alpha1.Performer) { p.Spec.Image = "registry.example.com/avs/does-not-exist" })
	create(t, p)
	dep := waitDeployment(t, p, "the Deployment", func(*appsv1.Deployment) bool { return true })
	pod := podFor(dep, "a")
	create(t, pod)
	setPodStatus(t, pod, corev1.PodStatus{
		Phase:      corev1.PodPending,
		Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}},
		ContainerStatuses: []corev1.ContainerStatus{{
			Name: "performer", Image: pod.Spec.Containers[0].Image,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
				Reason:  "ImagePullBackOff",
				Message: `Back-off pulling image "registry.example.com/avs/does-not-exist:v1.0.0"`,
			}},
		}},
	})
	got := waitPerformer(t, p, "Stalled", isStalled(v1alpha1.ImagePullFailedReason))
	c := condition(got, meta.StalledCondition)
	if !strings.Contains(c.Message, "registry.example.com/avs/does-not-exist:v1.0.0") || !strings.Contains(c.Message, pod.Name) {
		t.Errorf("Stalled message %q does not name the pod and the image", c.Message)
	}
	if r := condition(got, meta.ReadyCondition); r.Status != metav1.ConditionFalse || r.Reason != v1alpha1.ImagePullFailedReason {
		t.Errorf("Ready = %+v, want False/%s", r, v1alpha1.ImagePullFailedReason)
	}
	if got.Status.Phase != v1alpha1.PhaseFailed || condition(got, meta.ReconcilingCondition) != nil {
		t.Errorf("want phase Failed without Reconciling: %s", statusString(got))
	}
	wantKstatus(t, got, status.FailedStatus)
	waitEvent(t, p, corev1.EventTypeWarning, v1alpha1.ImagePullFailedReason)

	// The image shows up after all: the pod starts and the performer becomes ready.
	setPodStatus(t, pod, corev1.PodStatus{
		Phase:      corev1.PodRunning,
		Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}, {Type: corev1.PodReady, Status: corev1.ConditionTrue}},
		ContainerStatuses: []corev1.ContainerStatus{{
			Name: "performer", Image: pod.Spec.Containers[0].Image, Ready: true,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}},
		}},
	})
	setDeploymentStatus(t, p, rolledOut)
	got = waitPerformer(t, p, "ready", isReady)
	if condition(got, meta.StalledCondition) != nil {
		t.Errorf("Stalled stays after recovery: %s", statusString(got))
	}
	wantKstatus(t, got, status.CurrentStatus)
}

func TestUnschedulableStalls(t *testing.T) {
	t.Parallel()
	ns := env.Namespace(t)
	p := newPerformer(ns, "nogpu", func(p *v1alpha1.Performer) {
		p.Spec.HardwareRequirements = &v1alpha1.HardwareRequirements{GPUType: "nvidia-h100", GPUCount: 8}
	})
	create(t, p)
	dep := waitDeployment(t, p, "the Deployment", func(*appsv1.Deployment) bool { return true })
	pod := podFor(dep, "a")
	create(t, pod)
	schedulerSays := "0/3 nodes are available: 3 Insufficient nvidia.com/gpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod."
	setPodStatus(t, pod, corev1.PodStatus{
		Phase: corev1.PodPending,
		Conditions: []corev1.PodCondition{{
			Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable, Message: schedulerSays,
		}},
	})
	got := waitPerformer(t, p, "Stalled", isStalled(v1alpha1.UnschedulableReason))
	if c := condition(got, meta.StalledCondition); !strings.Contains(c.Message, schedulerSays) {
		t.Errorf("Stalled message %q does not carry the scheduler's message", c.Message)
	}
	wantKstatus(t, got, status.FailedStatus)
	waitEvent(t, p, corev1.EventTypeWarning, v1alpha1.UnschedulableReason)
}

func TestProgressDeadlineStalls(t *testing.T) {
	t.Parallel()
	ns := env.Namespace(t)
	p := newPerformer(ns, "slow")
	create(t, p)
	waitDeployment(t, p, "the Deployment", func(*appsv1.Deployment) bool { return true })
	setDeploymentStatus(t, p, func(d *appsv1.Deployment) {
		d.Status = appsv1.DeploymentStatus{
			ObservedGeneration: d.Generation, Replicas: 1, UpdatedReplicas: 1, UnavailableReplicas: 1,
			Conditions: []appsv1.DeploymentCondition{{
				Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: "ProgressDeadlineExceeded",
				Message: `ReplicaSet "performer-slow-abc" has timed out progressing.`,
			}},
		}
	})
	got := waitPerformer(t, p, "Stalled", isStalled(v1alpha1.ProgressDeadlineExceededReason))
	if c := condition(got, meta.StalledCondition); !strings.Contains(c.Message, "has timed out progressing") {
		t.Errorf("Stalled message %q", c.Message)
	}
	wantKstatus(t, got, status.FailedStatus)
}

func TestSuspendLeavesWorkloadAlone(t *testing.T) {
	t.Parallel()
	ns := env.Namespace(t)
	p, _ := bringUp(t, newPerformer(ns, "suspended"))
	statusBefore := p.Status.DeepCopy()

	reads := calls.readsOf(key(p))
	p.Spec.Suspend = true
	if err := k.Update(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the suspended reconcile", func() (bool, string) { return calls.readsOf(key(p)) > reads, "" })

	// Drift while suspended stays.
	reads = calls.readsOf(key(p))
	var dep appsv1.Deployment
	get(t, workloadKey(p), &dep)
	dep.Spec.Template.Spec.Containers[0].Image = "example.com/hotfix:1"
	if err := k.Update(context.Background(), &dep); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a reconcile of the changed Deployment", func() (bool, string) { return calls.readsOf(key(p)) > reads, "" })
	time.Sleep(200 * time.Millisecond)
	get(t, workloadKey(p), &dep)
	if img := dep.Spec.Template.Spec.Containers[0].Image; img != "example.com/hotfix:1" {
		t.Errorf("a suspended performer's Deployment was changed: image %s", img)
	}
	got := getPerformer(t, p)
	// The status only gains a condition that says the Performer is suspended.
	if c := condition(got, v1alpha1.SuspendedCondition); c == nil || c.Status != metav1.ConditionTrue || c.Reason != meta.SuspendedReason || !strings.Contains(c.Message, "spec.suspend") {
		t.Errorf("Suspended condition = %+v, want True/Suspended naming spec.suspend", c)
	}
	withoutSuspended := got.Status.DeepCopy()
	apimeta.RemoveStatusCondition(&withoutSuspended.Conditions, v1alpha1.SuspendedCondition)
	if diff := cmp.Diff(*statusBefore, *withoutSuspended); diff != "" {
		t.Errorf("the status of a suspended performer changed (-before +after):\n%s", diff)
	}

	// Resuming reconciles again.
	got.Spec.Suspend = false
	if err := k.Update(context.Background(), got); err != nil {
		t.Fatal(err)
	}
	waitDeployment(t, p, "the image to be restored", func(d *appsv1.Deployment) bool {
		return d.Spec.Template.Spec.Containers[0].Image == "registry.example.com/avs/performer:v1.0.0"
	})
	waitPerformer(t, p, "the Suspended condition to go", func(p *v1alpha1.Performer) bool {
		return condition(p, v1alpha1.SuspendedCondition) == nil
	})
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func portsString(ports []corev1.ServicePort) string {
	var s []string
	for _, p := range ports {
		s = append(s, p.Name+":"+p.TargetPort.String())
	}
	return strings.Join(s, ",")
}

func ptr[T any](v T) *T { return &v }

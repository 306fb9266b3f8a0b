package performer

import (
	"testing"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	"github.com/fluxcd/pkg/runtime/conditions"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/hourglass-gitops/hourglass-gitops/api/v1alpha1"
)

// A rollout is held while it keeps making steps, counted from its last step, not from its start.
func TestHoldRolloutFollowsSteps(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	progressing := func(p *v1alpha1.Performer) *v1alpha1.Performer {
		p = p.DeepCopy()
		p.Status.Ready = false
		conditions.MarkReconciling(p, meta.ProgressingReason, "rolling out")
		return p
	}
	newP := testPerformer(imgV1, v1alpha1.PerformerStatus{ObservedGeneration: -1})
	newP.CreationTimestamp = metav1.NewTime(t0)
	var r rollouts

	for _, step := range []struct {
		at        int
		dep       int32 // the Deployment's updated replicas
		pods      []corev1.Pod
		wantHold  time.Duration
		wantStart int
	}{
		{at: 1, wantHold: 9 * time.Second},                                                           // from the creation
		{at: 6, dep: 1, wantHold: 10 * time.Second},                                                  // a step
		{at: 12, dep: 1, pods: []corev1.Pod{pod("a", imgV1, false, "")}, wantHold: 10 * time.Second}, // a pod
		{at: 18, dep: 1, pods: []corev1.Pod{pod("a", imgV1, false, "")}, wantHold: 4 * time.Second},  // none since 12
		{at: 22, dep: 1, pods: []corev1.Pod{pod("a", imgV1, false, "")}, wantHold: 0},
	} {
		p := progressing(newP)
		started, stepped := r.seen(newP, p, stepOf(deployment(1, 1, 1, step.dep, 0, 0), step.pods, imgV1), at(step.at))
		if !started.Equal(t0) {
			t.Errorf("at %ds: started %v, want the creation %v", step.at, started, t0)
		}
		if got := holdRollout(newP, p, 10*time.Second, stepped, at(step.at)); got != step.wantHold {
			t.Errorf("at %ds: hold %v, want %v", step.at, got, step.wantHold)
		}
	}

	// Reported: the next generation's rollout starts when the controller first sees it.
	reported := testPerformer(imgV1, running(imgV1))
	reported.Status.ObservedGeneration = newP.Generation
	r.reported(reported)
	if len(r.at) != 0 {
		t.Fatalf("a reported rollout is remembered: %v", r.at)
	}
	upgrade := testPerformer(imgV2, running(imgV1))
	upgrade.Generation, upgrade.CreationTimestamp = 4, metav1.NewTime(t0)
	started, stepped := r.seen(upgrade, progressing(upgrade), stepOf(nil, nil, imgV2), at(100))
	if !started.Equal(at(100)) || !stepped.Equal(at(100)) {
		t.Errorf("upgrade first seen at %v: started %v, stepped %v", at(100), started, stepped)
	}
	if got := holdRollout(upgrade, progressing(upgrade), 10*time.Second, stepped, at(103)); got != 7*time.Second {
		t.Errorf("upgrade hold %v, want 7s", got)
	}

	// Nothing is held that is ready, failing, or already reported for this generation.
	failing := upgrade.DeepCopy()
	conditions.MarkReconciling(failing, v1alpha1.CrashLoopBackOffReason, "crashing")
	for name, p := range map[string]*v1alpha1.Performer{"failing": failing, "ready": testPerformer(imgV2, running(imgV2))} {
		if got := holdRollout(upgrade, p, 10*time.Second, at(100), at(101)); got != 0 {
			t.Errorf("%s: hold %v, want none", name, got)
		}
	}
	observed := upgrade.DeepCopy()
	observed.Status.ObservedGeneration = upgrade.Generation
	if got := holdRollout(observed, progressing(upgrade), 10*time.Second, at(100), at(101)); got != 0 {
		t.Errorf("a generation already reported: hold %v, want none", got)
	}
	if got := holdRollout(upgrade, progressing(upgrade), 0, at(100), at(100)); got != 0 {
		t.Errorf("no quiet period: hold %v, want none", got)
	}
	r.forget(types.NamespacedName{Namespace: "ns", Name: "p"}, 0)
	if len(r.at) != 0 {
		t.Errorf("forgotten rollout still remembered: %v", r.at)
	}
}

package performer_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/hourglass-gitops/hourglass-gitops/api/v1alpha1"
)

// quietRollout is the tests' rollout quiet period, shorter than the controller's default so that
// the tests that wait for Pending and Upgrading see them within their wait: a rollout that makes
// no step for this long is reported, one done sooner is reported once.
const quietRollout = 10 * time.Second

// A new Performer whose rollout is done within quietRollout costs one status write and no event:
// it goes from no status (observedGeneration -1, which every reader takes for not ready) to Ready.
func TestQuickFirstRolloutIsReportedOnce(t *testing.T) {
	t.Parallel()
	ns := env.Namespace(t)
	start := time.Now()
	p, pod := bringUp(t, newPerformer(ns, "quick"))
	if time.Since(start) > quietRollout {
		t.Skipf("the first rollout took %s on this machine, longer than the controller waits", time.Since(start))
	}
	if n := countWrites(ns, "patch/status Performer/quick"); n != 1 {
		t.Errorf("%d status writes for a quick first rollout, want 1: %v", n, calls.writesIn(ns))
	}
	wantOnlyCrashLoopEvent(t, p, pod)
}

// wantOnlyCrashLoopEvent makes pod crash-loop and checks that the Warning the controller reports
// it with is the Performer's only event. Events are written from a queue after the status: the
// crash loop, reported after every earlier transition, marks how far the queue has been written.
func wantOnlyCrashLoopEvent(t *testing.T, p *v1alpha1.Performer, pod *corev1.Pod) {
	t.Helper()
	setPodStatus(t, pod, corev1.PodStatus{
		Phase:      corev1.PodRunning,
		Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}, {Type: corev1.PodReady, Status: corev1.ConditionFalse}},
		ContainerStatuses: []corev1.ContainerStatus{{
			Name: "performer", Image: pod.Spec.Containers[0].Image, RestartCount: 3,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 40s"}},
		}},
	})
	waitEvent(t, p, corev1.EventTypeWarning, v1alpha1.CrashLoopBackOffReason)
	if diff := cmp.Diff([]string{"Warning/" + v1alpha1.CrashLoopBackOffReason}, eventsOf(t, p)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

// An upgrade done within quietRollout costs one status write and no event either. Until the write,
// the status still describes the old pod, which serves, and readers see an unobserved generation.
func TestQuickUpgradeIsReportedOnce(t *testing.T) {
	t.Parallel()
	ns := env.Namespace(t)
	start := time.Now()
	p, oldPod := bringUp(t, newPerformer(ns, "quick-up"))
	if time.Since(start) > quietRollout {
		t.Skipf("the first rollout took %s on this machine, longer than the controller waits", time.Since(start))
	}
	writes := countWrites(ns, "patch/status Performer/quick-up")

	start = time.Now()
	p.Spec.Version = "v1.1.0"
	if err := k.Update(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	dep := waitDeployment(t, p, "the new image", func(d *appsv1.Deployment) bool {
		return d.Spec.Template.Spec.Containers[0].Image == "registry.example.com/avs/performer:v1.1.0"
	})
	during := getPerformer(t, p)
	if time.Since(start) > quietRollout {
		t.Skipf("applying the upgrade took %s on this machine, longer than the controller waits", time.Since(start))
	}
	if during.Status.ObservedGeneration != 1 || during.Status.Phase != v1alpha1.PhaseRunning {
		t.Errorf("status written while the upgrade makes progress: %s", statusString(during))
	}
	wantKstatus(t, during, status.InProgressStatus)

	newPod := runPod(t, dep, "b")
	if err := k.Delete(context.Background(), oldPod, client.GracePeriodSeconds(0)); err != nil {
		t.Fatal(err)
	}
	setDeploymentStatus(t, p, rolledOut)
	got := waitPerformer(t, p, "ready on the new version", func(p *v1alpha1.Performer) bool {
		return p.Status.ObservedGeneration == 2 && isReady(p)
	})
	if time.Since(start) > quietRollout {
		t.Skipf("the upgrade took %s on this machine, longer than the controller waits", time.Since(start))
	}
	wantKstatus(t, got, status.CurrentStatus)
	if got.Status.CurrentImage != "registry.example.com/avs/performer:v1.1.0" || got.Status.PodName != newPod.Name {
		t.Errorf("after the upgrade: podName=%q %s", got.Status.PodName, statusString(got))
	}
	// The upgrade's start is when the controller saw the new generation, not when it wrote.
	if lu := got.Status.LastUpgrade; lu == nil || lu.Time.Before(start.Truncate(time.Second)) || lu.Time.After(got.Status.ReadyTime.Time) {
		t.Errorf("lastUpgrade %v, want between the change at %v and readyTime %v", lu, start, got.Status.ReadyTime)
	}
	// status.ready stayed true, but the new pod became ready after the change.
	if got.Status.ReadyTime.Time.Before(start.Truncate(time.Second)) {
		t.Errorf("readyTime %v is before the change at %v", got.Status.ReadyTime, start)
	}
	if n := countWrites(ns, "patch/status Performer/quick-up") - writes; n != 1 {
		t.Errorf("%d status writes for a quick upgrade, want 1: %v", n, calls.writesIn(ns))
	}
	wantOnlyCrashLoopEvent(t, p, newPod)
}

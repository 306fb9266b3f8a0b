package performer_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/hourglass-gitops/hourglass-gitops/api/v1alpha1"
)

// quietRollout is the controller's: a rollout done sooner is reported once.
const quietRollout = 10 * time.Second

// A rollout that is done within quietRollout of its start costs one status write and one event:
// a new Performer goes from no status (observedGeneration -1, which every reader takes for not
// ready) to Ready; a quick upgrade goes Upgrading, then Ready, with UpgradeSucceeded alone.
func TestQuickRolloutsAreReportedOnce(t *testing.T) {
	t.Parallel()
	ns := env.Namespace(t)
	start := time.Now()
	p, oldPod := bringUp(t, newPerformer(ns, "quick"))
	if time.Since(start) > quietRollout {
		t.Skipf("the first rollout took %s on this machine, longer than the controller waits", time.Since(start))
	}
	if n := countWrites(ns, "patch/status Performer/quick"); n != 1 {
		t.Errorf("%d status writes for a quick first rollout, want 1: %v", n, calls.writesIn(ns))
	}
	if diff := cmp.Diff([]string{"Normal/Ready"}, eventsOf(t, p)); diff != "" {
		t.Errorf("events of the first rollout (-want +got):\n%s", diff)
	}

	start = time.Now()
	p.Spec.Version = "v1.1.0"
	if err := k.Update(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	dep := waitDeployment(t, p, "the new image", func(d *appsv1.Deployment) bool {
		return d.Spec.Template.Spec.Containers[0].Image == "registry.example.com/avs/performer:v1.1.0"
	})
	runPod(t, dep, "b")
	if err := k.Delete(context.Background(), oldPod, client.GracePeriodSeconds(0)); err != nil {
		t.Fatal(err)
	}
	setDeploymentStatus(t, p, rolledOut)
	waitPerformer(t, p, "ready on the new version", func(p *v1alpha1.Performer) bool {
		return isReady(p) && p.Status.CurrentImage == "registry.example.com/avs/performer:v1.1.0"
	})
	waitEvent(t, p, "Normal", "UpgradeSucceeded")
	if time.Since(start) > quietRollout-time.Second {
		t.Skipf("the upgrade took %s on this machine, about as long as the controller waits", time.Since(start))
	}
	time.Sleep(quietRollout) // a held UpgradeStarted would be sent by now
	if n := countWrites(ns, "patch/status Performer/quick"); n != 3 {
		t.Errorf("%d status writes for a quick first rollout and upgrade, want 3 (Ready; Upgrading, Ready): %v", n, calls.writesIn(ns))
	}
	if diff := cmp.Diff([]string{"Normal/Ready", "Normal/UpgradeSucceeded"}, eventsOf(t, p)); diff != "" {
		t.Errorf("events of a quick first rollout and upgrade (-want +got):\n%s", diff)
	}
}

package performer_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
)

// quietRollout is the controller's: a first rollout done sooner is reported once.
const quietRollout = 10 * time.Second

// A new Performer whose rollout is done within quietRollout costs one status write and one event:
// it goes from no status (observedGeneration -1, which every reader takes for not ready) to Ready.
func TestQuickFirstRolloutIsReportedOnce(t *testing.T) {
	t.Parallel()
	ns := env.Namespace(t)
	start := time.Now()
	p, _ := bringUp(t, newPerformer(ns, "quick"))
	if time.Since(start) > quietRollout {
		t.Skipf("the first rollout took %s on this machine, longer than the controller waits", time.Since(start))
	}
	if n := countWrites(ns, "patch/status Performer/quick"); n != 1 {
		t.Errorf("%d status writes for a quick first rollout, want 1: %v", n, calls.writesIn(ns))
	}
	// Events are written after the status, from a queue: wait for the one expected, then check
	// that it is the only one.
	waitEvent(t, p, corev1.EventTypeNormal, "Ready")
	if diff := cmp.Diff([]string{"Normal/Ready"}, eventsOf(t, p)); diff != "" {
		t.Errorf("events of the first rollout (-want +got):\n%s", diff)
	}
}

// Package poll waits for conditions in tests against a cluster, and reads the conditions that
// tell when a Performer is done.
package poll

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
)

// Interval is how often Until checks.
const Interval = 250 * time.Millisecond

// Until checks cond right away and then every Interval until it holds, fails, or timeout passes.
func Until(ctx context.Context, timeout time.Duration, cond func(ctx context.Context) (bool, error)) error {
	return wait.PollUntilContextTimeout(ctx, Interval, timeout, true, cond)
}

// ReadyAtGeneration reports whether an object (a Performer, or anything with Flux-style
// conditions) is Ready=True for its current generation, and says why not.
func ReadyAtGeneration(o *unstructured.Unstructured) (bool, string) {
	observed, _, _ := unstructured.NestedInt64(o.Object, "status", "observedGeneration")
	if observed != o.GetGeneration() {
		return false, fmt.Sprintf("observedGeneration %d, generation %d", observed, o.GetGeneration())
	}
	conds, _, _ := unstructured.NestedSlice(o.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == "Ready" {
			return m["status"] == "True", fmt.Sprintf("Ready=%v %v: %v", m["status"], m["reason"], m["message"])
		}
	}
	return false, "no Ready condition"
}

package performer

import (
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	"github.com/fluxcd/pkg/runtime/conditions"

	"github.com/hourglass-gitops/hourglass-gitops/api/v1alpha1"
)

// quietRollout is how long the rollout of a new Performer goes unreported while it makes
// progress: the CRD defaults status.observedGeneration to -1, which kstatus (so Flux's health
// checks), Argo CD's health check and status.ready (the executor's poll) all read as not ready
// yet, so a status saying "rolling out" would tell no reader anything new. A rollout done within
// this time costs one status write, not two; one still in progress after it is reported as
// before; a failure is reported at once. An upgrade is reported at once: status.ready is true
// until then, and readers of the phase expect Upgrading.
const quietRollout = 10 * time.Second

// holdFirst tells how much longer the first status of p, a new Performer whose rollout makes
// progress, may wait; zero when it is written now. old is p as the API server holds it. The
// rollout of a Performer never reported starts when it is created, so the wait counts from its
// creation: a Performer older than quietRollout (the controller was down, say) is reported at
// once.
func holdFirst(old, p *v1alpha1.Performer, now time.Time) time.Duration {
	rec := conditions.Get(p, meta.ReconcilingCondition)
	neverReported := old.Status.ObservedGeneration != p.Generation && old.Status.Phase == "" &&
		conditions.Get(old, meta.ReadyCondition) == nil
	if !neverReported || rec == nil || rec.Reason != meta.ProgressingReason || p.Status.Ready {
		return 0
	}
	// Capped: the creation time comes from the API server's clock.
	return min(max(quietRollout-now.Sub(p.CreationTimestamp.Time), 0), quietRollout)
}

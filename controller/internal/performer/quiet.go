package performer

import (
	"sync"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	"github.com/fluxcd/pkg/runtime/conditions"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

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

// quietLog remembers, per new Performer, when the rollout of its first generation started. A
// restarted controller forgets it and reports at once.
type quietLog struct {
	mu    sync.Mutex
	first map[types.NamespacedName]quietStart
}

type quietStart struct {
	uid        types.UID
	generation int64
	since      time.Time
}

// holdFirst tells how much longer the first status of p, a new Performer whose rollout makes
// progress, may wait; zero when it is written now. old is p as the API server holds it.
func (r *Reconciler) holdFirst(old, p *v1alpha1.Performer, now time.Time) time.Duration {
	key := client.ObjectKeyFromObject(p)
	r.quiet.mu.Lock()
	defer r.quiet.mu.Unlock()
	rec := conditions.Get(p, meta.ReconcilingCondition)
	neverReported := old.Status.ObservedGeneration != p.Generation && old.Status.Phase == "" &&
		conditions.Get(old, meta.ReadyCondition) == nil
	if !neverReported || rec == nil || rec.Reason != meta.ProgressingReason || p.Status.Ready {
		delete(r.quiet.first, key)
		return 0
	}
	s, ok := r.quiet.first[key]
	if !ok || s.uid != p.UID || s.generation != p.Generation {
		s = quietStart{uid: p.UID, generation: p.Generation, since: now}
		if r.quiet.first == nil {
			r.quiet.first = map[types.NamespacedName]quietStart{}
		}
		r.quiet.first[key] = s
	}
	return max(quietRollout-now.Sub(s.since), 0)
}

// forgetQuiet drops what is held of a Performer that is gone.
func (r *Reconciler) forgetQuiet(key types.NamespacedName) {
	r.quiet.mu.Lock()
	defer r.quiet.mu.Unlock()
	delete(r.quiet.first, key)
}

package performer

import (
	"context"
	"sync"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	"github.com/fluxcd/pkg/runtime/conditions"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/hourglass-gitops/hourglass-gitops/api/v1alpha1"
)

// quietRollout is how long a rollout that makes progress goes unreported, when reporting it would
// say nothing a reader does not know yet:
//   - a new Performer: the CRD defaults status.observedGeneration to -1, which kstatus (so Flux's
//     health checks), Argo CD's health check and status.ready (the executor's poll) all read as
//     not ready yet; a rollout done within this time costs one status write, not two;
//   - an upgrade's UpgradeStarted event: an upgrade done within this time has one event,
//     UpgradeSucceeded, which names both images. Its status write (phase Upgrading, lastUpgrade)
//     is not held: status.ready is true until then, and readers of the phase expect Upgrading.
//
// A rollout still in progress after it is reported as before; a failure is reported at once.
const quietRollout = 10 * time.Second

// quietLog remembers, per Performer, when the rollout of its first generation started, and the
// UpgradeStarted event not sent yet. A restarted controller forgets it and reports at once.
type quietLog struct {
	mu      sync.Mutex
	first   map[types.NamespacedName]quietStart
	upgrade map[types.NamespacedName]pendingUpgrade
}

type quietStart struct {
	uid        types.UID
	generation int64
	since      time.Time
}

type pendingUpgrade struct {
	uid   types.UID
	since time.Time
	note  string
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

// upgradeStarted holds the UpgradeStarted event of p, whose status now says Upgrading.
func (r *Reconciler) upgradeStarted(p *v1alpha1.Performer, note string, now time.Time) {
	r.quiet.mu.Lock()
	defer r.quiet.mu.Unlock()
	if r.quiet.upgrade == nil {
		r.quiet.upgrade = map[types.NamespacedName]pendingUpgrade{}
	}
	r.quiet.upgrade[client.ObjectKeyFromObject(p)] = pendingUpgrade{uid: p.UID, since: now, note: note}
}

// heldUpgrade sends the held UpgradeStarted event of p once the upgrade has made progress for
// quietRollout, or left the normal progress (a failure, a suspension), and drops it when the
// upgrade finished (UpgradeSucceeded says it). It returns how soon to look again.
func (r *Reconciler) heldUpgrade(ctx context.Context, p *v1alpha1.Performer, t transitions, now time.Time) time.Duration {
	key := client.ObjectKeyFromObject(p)
	r.quiet.mu.Lock()
	defer r.quiet.mu.Unlock()
	pend, ok := r.quiet.upgrade[key]
	if !ok {
		return 0
	}
	rec := conditions.Get(p, meta.ReconcilingCondition)
	switch {
	case pend.uid != p.UID || t.upgradeFinished != "" || p.Status.Phase == v1alpha1.PhaseRunning:
		delete(r.quiet.upgrade, key)
		return 0
	case p.Status.Phase == v1alpha1.PhaseUpgrading && rec != nil && rec.Reason == meta.ProgressingReason &&
		!conditions.IsTrue(p, v1alpha1.SuspendedCondition) && now.Sub(pend.since) < quietRollout:
		return quietRollout - now.Sub(pend.since)
	}
	delete(r.quiet.upgrade, key)
	if r.Recorder != nil {
		r.Recorder.Eventf(p, nil, corev1.EventTypeNormal, eventUpgradeStarted, "Upgrade", "%s", pend.note)
	}
	ctrl.LoggerFrom(ctx).V(1).Info("upgrade still in progress", "note", pend.note)
	return 0
}

// forgetQuiet drops what is held of a Performer that is gone.
func (r *Reconciler) forgetQuiet(key types.NamespacedName) {
	r.quiet.mu.Lock()
	defer r.quiet.mu.Unlock()
	delete(r.quiet.first, key)
	delete(r.quiet.upgrade, key)
}

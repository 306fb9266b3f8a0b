package performer

import (
	"sync"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	"github.com/fluxcd/pkg/runtime/conditions"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/hourglass-gitops/hourglass-gitops/api/v1alpha1"
)

// DefaultQuietPeriod is how long a rollout may go without a visible step before it is reported
// (Reconciler.QuietPeriod). Until the status names the Performer's generation, every reader takes
// the Performer for not ready on it: kstatus (so Flux's health checks) and Argo CD's health check
// compare status.observedGeneration with the generation, and the CRD defaults it to -1, which
// status.ready (the executor's poll of the Performers it makes) matches. A status saying
// "rolling out" would tell them nothing new, so a rollout that keeps making steps costs one
// status write, when it is done; one that makes no step for this long is reported as Pending or
// Upgrading, as the Deployment controller's progress deadline counts from the last step; a
// failure is reported at once. During an upgrade the status still describes the old pod, which
// keeps serving until the new one is ready. Two minutes: with a thousand Performers upgrading at
// once on a small control plane (make bench), the Deployment controller updated a Deployment's
// status 60–66 s after its new pod was ready, for three rollouts in four; a minute reported them
// as Upgrading while nothing was wrong.
const DefaultQuietPeriod = 2 * time.Minute

// holdRollout tells how much longer the status of p, whose rollout of a generation not reported
// yet makes progress, may wait for quiet to pass since its last step; zero when it is written now.
// old is p as the API server holds it and stepped is when the rollout last made a step.
func holdRollout(old, p *v1alpha1.Performer, quiet time.Duration, stepped, now time.Time) time.Duration {
	rec := conditions.Get(p, meta.ReconcilingCondition)
	if old.Status.ObservedGeneration == p.Generation || rec == nil || rec.Reason != meta.ProgressingReason || p.Status.Ready {
		return 0
	}
	// Capped: the time may come from the API server's clock.
	return min(max(quiet-now.Sub(stepped), 0), quiet)
}

// rolloutStep is what the controller sees of a rollout's progress: the Deployment's counts, and
// the pods of the desired image and of others. A rollout makes a step when it changes.
type rolloutStep struct {
	observed                            int64
	replicas, updated, ready, available int32
	pods, scheduled, readyPods, others  int
}

func stepOf(dep *appsv1.Deployment, pods []corev1.Pod, image string) rolloutStep {
	var s rolloutStep
	if dep != nil {
		st := dep.Status
		s.observed, s.replicas, s.updated, s.ready, s.available = st.ObservedGeneration, st.Replicas, st.UpdatedReplicas, st.ReadyReplicas, st.AvailableReplicas
	}
	for i := range pods {
		pod := &pods[i]
		if !runsImage(pod, image) {
			s.others++
			continue
		}
		s.pods++
		if pod.Spec.NodeName != "" {
			s.scheduled++
		}
		if podReady(pod) {
			s.readyPods++
		}
	}
	return s
}

// rollouts remembers, for each Performer whose rollout the controller has not reported yet, when
// it saw the rollout's generation first and when the rollout last made a step. The rollout of a
// Performer never reported starts at its creation, so one created long before the controller saw
// it (the controller was down, say) is reported at once.
type rollouts struct {
	mu sync.Mutex
	at map[types.NamespacedName]rollout
}

type rollout struct {
	generation       int64
	started, stepped time.Time
	step             rolloutStep
}

// seen records the rollout of p's generation at step and returns when it started and when it
// last made a step; old is p as the API server holds it.
func (r *rollouts) seen(old, p *v1alpha1.Performer, step rolloutStep, now time.Time) (started, stepped time.Time) {
	key := client.ObjectKeyFromObject(p)
	r.mu.Lock()
	defer r.mu.Unlock()
	ro, ok := r.at[key]
	switch {
	case !ok || ro.generation != p.Generation:
		start := now
		if old.Status.ObservedGeneration <= 0 {
			start = p.CreationTimestamp.Time
		}
		ro = rollout{generation: p.Generation, started: start, stepped: start, step: step}
	case ro.step != step:
		ro.step, ro.stepped = step, now
	}
	if r.at == nil {
		r.at = map[types.NamespacedName]rollout{}
	}
	r.at[key] = ro
	return ro.started, ro.stepped
}

// reported forgets p's rollout once a status naming its generation is written.
func (r *rollouts) reported(p *v1alpha1.Performer) {
	r.forget(client.ObjectKeyFromObject(p), p.Status.ObservedGeneration)
}

// forget drops the rollout recorded for key, of any generation when generation is 0.
func (r *rollouts) forget(key types.NamespacedName, generation int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ro, ok := r.at[key]; ok && (generation == 0 || ro.generation == generation) {
		delete(r.at, key)
	}
}

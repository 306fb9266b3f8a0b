// Package performer holds the Performer reconciler: it applies each Performer's Deployment and
// Service with server-side apply and reports the rollout in the Performer status, with the Flux
// conditions that kstatus, Flux health checks and Argo CD understand.
package performer

import (
	"github.com/fluxcd/pkg/apis/meta"
	"github.com/fluxcd/pkg/runtime/conditions"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hourglass-gitops/hourglass-gitops/api/v1alpha1"
)

// Event reasons of transitions that have no condition reason of their own.
const (
	eventReady           = "Ready"
	eventUpgradeStarted  = "UpgradeStarted"
	eventUpgradeFinished = "UpgradeSucceeded"
)

func (r *Reconciler) emit(old, p *v1alpha1.Performer, t transitions) {
	if r.Recorder == nil {
		return
	}
	if b := conditions.Get(p, v1alpha1.BoundCondition); b != nil && b.Status == metav1.ConditionTrue {
		if ob := conditions.Get(old, v1alpha1.BoundCondition); ob == nil || ob.Status != b.Status || ob.Message != b.Message {
			r.Recorder.Eventf(p, nil, corev1.EventTypeNormal, eventBound, "Bind", "%s", b.Message)
		}
	}
	if t.upgradeStarted != "" && t.upgradeFinished == "" {
		r.Recorder.Eventf(p, nil, corev1.EventTypeNormal, eventUpgradeStarted, "Upgrade", "%s", t.upgradeStarted)
	}
	// Events mark what a reader of kubectl describe needs to know: why a Performer is not ready,
	// and the end of a wait the status told of (Pending, Upgrading, a failure). A rollout done
	// within the quiet period is told by its one status write and by its Deployment's own
	// ScalingReplicaSet events; an event of its own would be one more request per Performer in a
	// burst (make bench). A rollout making progress is no event either: the Reconciling condition
	// says it, and UpgradeStarted marks the start of an upgrade the status reports.
	before := conditions.Get(old, meta.ReadyCondition)
	after := conditions.Get(p, meta.ReadyCondition)
	changed := after != nil && (before == nil || before.Status != after.Status || before.Reason != after.Reason)
	quick := before == nil || (t.upgradeStarted != "" && t.upgradeFinished != "")
	switch {
	case after != nil && after.Status == metav1.ConditionTrue && quick:
		// Told by the status write alone.
	case t.upgradeFinished != "":
		r.Recorder.Eventf(p, nil, corev1.EventTypeNormal, eventUpgradeFinished, "Upgrade", "%s; %s", t.upgradeFinished, after.Message)
	case !changed:
	case after.Status == metav1.ConditionTrue:
		r.Recorder.Eventf(p, nil, corev1.EventTypeNormal, eventReady, "Rollout", "%s", after.Message)
	case after.Reason == meta.ProgressingReason || after.Reason == meta.DependencyNotReadyReason:
	default:
		r.Recorder.Eventf(p, nil, corev1.EventTypeWarning, after.Reason, "Rollout", "%s", after.Message)
	}
}

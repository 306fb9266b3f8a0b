// Package performer holds the Performer reconciler: it applies each Performer's Deployment and
// Service with server-side apply and reports the rollout in the Performer status, with the Flux
// conditions that kstatus, Flux health checks and Argo CD understand.
package performer

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	"github.com/fluxcd/pkg/runtime/conditions"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/hourglass-gitops/hourglass-gitops/api/v1alpha1"
	"github.com/hourglass-gitops/hourglass-gitops/controller/workload"
)

// maxMessage keeps condition messages well below the API limit of 32768 bytes.
const maxMessage = 4096

// transitions are the events one reconcile has to report besides condition changes.
type transitions struct {
	upgradeStarted  string // "from -> to"
	upgradeFinished string
	requeueAfter    time.Duration
	// hold leaves the status unwritten for now (quiet.go): a rollout that keeps making steps.
	hold bool
}

// observe sets the status from the Deployment and the pods: Ready once the rollout is complete
// and a pod of the desired image is ready, Stalled when the rollout cannot progress, Reconciling
// in between.
// started is when the rollout of p's generation began: an upgrade's lastUpgrade.
func observe(p *v1alpha1.Performer, old *v1alpha1.Performer, dep *appsv1.Deployment, pods []corev1.Pod, imageChanged bool, now, started metav1.Time) transitions {
	st := &p.Status
	var t transitions
	desired := p.Image()

	upgrading := st.CurrentImage != "" && st.CurrentImage != desired
	// An upgrade starts when a new image is applied, or when a status write was lost after that.
	if upgrading && (imageChanged || (old.Status.Phase != v1alpha1.PhaseUpgrading && old.Status.Phase != v1alpha1.PhaseFailed)) {
		st.LastUpgrade = &started
		t.upgradeStarted = fmt.Sprintf("upgrading from %s to %s", st.CurrentImage, desired)
	}

	current := podsOfImage(pods, desired)
	readyPod := firstReadyPod(current)
	// Named once the rollout is done, with currentImage: a name set earlier would cost a write
	// of its own in the middle of the rollout.
	st.PodName = ""
	st.NodeName = ""

	if reason, msg := stallOf(dep, current); reason != "" {
		markStalled(p, reason, msg)
		return t
	}

	if !rolledOut(dep) || readyPod == nil {
		// One message for the whole rollout, rather than one per step of the Deployment (observed,
		// updated, old pods terminating, available): each new message is a status write and a
		// watch event for every reader, and the Deployment's status tells the steps already.
		progress := fmt.Sprintf("rolling out %s with Deployment %s", desired, workload.Name(p))
		st.Ready = false
		st.Phase = v1alpha1.PhasePending
		if upgrading {
			st.Phase = v1alpha1.PhaseUpgrading
		}
		reason := meta.ProgressingReason
		if crash := crashLooping(current); crash != "" {
			reason, progress = v1alpha1.CrashLoopBackOffReason, crash
		}
		conditions.MarkReconciling(p, reason, "%s", short(progress))
		conditions.MarkFalse(p, meta.ReadyCondition, reason, "%s", short(progress))
		return t
	}

	if !old.Status.Ready || st.ReadyTime == nil || upgrading {
		// An upgrade reported only when done leaves status.ready true throughout: the new pod
		// became ready now all the same.
		st.ReadyTime = &now
	}
	if upgrading {
		t.upgradeFinished = fmt.Sprintf("upgraded from %s to %s", st.CurrentImage, desired)
	}
	st.CurrentImage = desired
	st.PodName = readyPod.Name
	st.NodeName = readyPod.Spec.NodeName
	st.Ready = true
	st.Phase = v1alpha1.PhaseRunning
	conditions.Delete(p, meta.StalledCondition)
	conditions.Delete(p, meta.ReconcilingCondition)
	conditions.MarkTrue(p, meta.ReadyCondition, meta.SucceededReason,
		"performer is serving gRPC at %s with %s", st.GRPCEndpoint, desired)
	return t
}

// rolledOut reports whether the Deployment has fully rolled out its current template to one
// ready, available pod, as kubectl rollout status decides it: the current generation observed,
// the replica updated, no old replica left, and the updated one available.
func rolledOut(dep *appsv1.Deployment) bool {
	if dep == nil {
		return false
	}
	s := dep.Status
	return s.ObservedGeneration >= dep.Generation && s.UpdatedReplicas >= 1 && s.Replicas <= s.UpdatedReplicas &&
		s.AvailableReplicas >= 1 && s.ReadyReplicas >= 1
}

// crashLooping finds a pod whose performer container keeps crashing, and says how it last ended.
func crashLooping(pods []corev1.Pod) string {
	for i := range pods {
		for _, cs := range pods[i].Status.ContainerStatuses {
			w := cs.State.Waiting
			if w == nil || w.Reason != v1alpha1.CrashLoopBackOffReason {
				continue
			}
			msg := fmt.Sprintf("pod %s: container %s keeps crashing (%d restarts)", pods[i].Name, cs.Name, cs.RestartCount)
			if t := cs.LastTerminationState.Terminated; t != nil {
				msg += fmt.Sprintf(", last exit code %d", t.ExitCode)
				if t.Reason != "" {
					msg += " (" + t.Reason + ")"
				}
				if t.Message != "" {
					msg += ": " + t.Message
				}
			}
			return msg
		}
	}
	return ""
}

// stallOf finds why the rollout cannot progress without a change: the image cannot be pulled, no
// node fits the pod, or the Deployment's progress deadline passed.
func stallOf(dep *appsv1.Deployment, pods []corev1.Pod) (reason, message string) {
	for i := range pods {
		pod := &pods[i]
		statuses := append(append([]corev1.ContainerStatus(nil), pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...)
		for _, cs := range statuses {
			w := cs.State.Waiting
			if w == nil {
				continue
			}
			switch w.Reason {
			case "ErrImagePull", "ImagePullBackOff", "InvalidImageName":
				return v1alpha1.ImagePullFailedReason, fmt.Sprintf("pod %s cannot pull image %s: %s: %s", pod.Name, cs.Image, w.Reason, w.Message)
			case v1alpha1.CreateContainerConfigErrorReason:
				return v1alpha1.CreateContainerConfigErrorReason, fmt.Sprintf("pod %s: container %s cannot be created: %s", pod.Name, cs.Name, w.Message)
			}
		}
		for _, c := range pod.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
				return v1alpha1.UnschedulableReason, fmt.Sprintf("pod %s cannot be scheduled: %s", pod.Name, c.Message)
			}
		}
	}
	if dep != nil {
		// The Deployment controller copies a ReplicaSet's failure to create pods here.
		for _, c := range dep.Status.Conditions {
			if c.Type == appsv1.DeploymentReplicaFailure && c.Status == corev1.ConditionTrue {
				return v1alpha1.FailedCreateReason, fmt.Sprintf("Deployment %s cannot create the performer pod: %s: %s", dep.Name, c.Reason, c.Message)
			}
		}
	}
	if dep != nil && dep.Status.ObservedGeneration >= dep.Generation {
		for _, c := range dep.Status.Conditions {
			if c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionFalse && c.Reason == "ProgressDeadlineExceeded" {
				return v1alpha1.ProgressDeadlineExceededReason, fmt.Sprintf("Deployment %s: %s", dep.Name, c.Message)
			}
		}
	}
	return "", ""
}

// stall marks p Stalled and returns the terminal error that tells controller-runtime not to retry
// (only a change of the Performer can help) while still counting the failure in its metrics.
func stall(p *v1alpha1.Performer, reason, msg string) error {
	markStalled(p, reason, msg)
	return reconcile.TerminalError(fmt.Errorf("%s: %s", reason, short(msg)))
}

// markStalled records a rollout that cannot progress until something changes.
func markStalled(p *v1alpha1.Performer, reason, msg string) {
	msg = short(msg)
	p.Status.Ready = false
	p.Status.Phase = v1alpha1.PhaseFailed
	conditions.MarkStalled(p, reason, "%s", msg)
	conditions.MarkFalse(p, meta.ReadyCondition, reason, "%s", msg)
}

// markFailed records an error that a retry may overcome.
func markFailed(p *v1alpha1.Performer, err error) {
	msg := short(err.Error())
	p.Status.Ready = false
	conditions.MarkReconciling(p, meta.ProgressingWithRetryReason, "%s", msg)
	conditions.MarkFalse(p, meta.ReadyCondition, meta.ReconciliationFailedReason, "%s", msg)
}

// short keeps a condition message readable in kubectl output and events.
func short(msg string) string {
	if len(msg) > maxMessage {
		return msg[:maxMessage-3] + "..."
	}
	return msg
}

// patchStatus writes the status in one merge patch when it changed, then reports the transitions
// as events. One patch, not one for the conditions and one for the rest as Flux's patch helper
// does, so that no reader ever sees a Ready condition that disagrees with status.ready and the
// phase (the executor polls those fields, kstatus the conditions). The optimistic lock makes a
// reconcile that started from a stale cached Performer fail and retry, rather than overwrite a
// newer status or report a transition (and its event) a second time.
func (r *Reconciler) patchStatus(ctx context.Context, old, p *v1alpha1.Performer, t transitions) error {
	if t.hold {
		ctrl.LoggerFrom(ctx).V(1).Info("rollout started; its status waits", "for", t.requeueAfter)
		return nil
	}
	if equality.Semantic.DeepEqual(old.Status, p.Status) {
		ctrl.LoggerFrom(ctx).V(1).Info("nothing changed")
		return nil
	}
	patch := client.MergeFromWithOptions(old, client.MergeFromWithOptimisticLock{})
	if err := r.Status().Patch(ctx, p, patch, client.FieldOwner(FieldManager)); err != nil {
		return fmt.Errorf("patching the status of performer %s/%s: %w", p.Namespace, p.Name, err)
	}
	if p.ResourceVersion != old.ResourceVersion {
		// (A patch the API server found to change nothing keeps the resourceVersion, and no
		// watch event would ever move the cache past it.)
		r.patched.record(client.ObjectKeyFromObject(p), old.ResourceVersion)
	}
	if old.Status.Phase != p.Status.Phase {
		ctrl.LoggerFrom(ctx).Info("phase changed", "from", old.Status.Phase, "to", p.Status.Phase)
	}
	r.rollouts.reported(p)
	if p.Status.Ready && (!old.Status.Ready || t.upgradeFinished != "") {
		observeRollout(old, p, t.upgradeFinished != "", time.Now())
	}
	r.emit(old, p, t)
	return nil
}

func containerImage(spec *corev1.PodSpec) string {
	for _, c := range spec.Containers {
		if c.Name == workload.ContainerName {
			return c.Image
		}
	}
	return ""
}

// podsOfImage returns the pods, not being deleted, whose performer container runs image.
func podsOfImage(pods []corev1.Pod, image string) []corev1.Pod {
	var out []corev1.Pod
	for _, pod := range pods {
		if runsImage(&pod, image) {
			out = append(out, pod)
		}
	}
	// The cache lists in no particular order; the status must not flip between equal pods.
	sortPods(out)
	return out
}

func sortPods(pods []corev1.Pod) {
	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
}

// runsImage tells whether pod, not being deleted, runs image in its performer container.
func runsImage(pod *corev1.Pod, image string) bool {
	return pod.DeletionTimestamp.IsZero() && containerImage(&pod.Spec) == image
}

func firstReadyPod(pods []corev1.Pod) *corev1.Pod {
	for i := range pods {
		if podReady(&pods[i]) {
			return &pods[i]
		}
	}
	return nil
}

func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

func joinErrors(errs []error) string {
	msgs := make([]string, len(errs))
	for i, err := range errs {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "; ")
}

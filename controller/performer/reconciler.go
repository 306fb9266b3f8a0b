// Package performer holds the Performer reconciler: it applies each Performer's Deployment and
// Service with server-side apply and reports the rollout in the Performer status, with the Flux
// conditions that kstatus, Flux health checks and Argo CD understand.
package performer

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/hourglass-gitops/hourglass-gitops/api/v1alpha1"
	"github.com/hourglass-gitops/hourglass-gitops/controller/workload"
)

// FieldManager owns every field the controller writes.
const FieldManager = "hourglass-controller"

// Condition reasons beyond the generic ones of github.com/fluxcd/pkg/apis/meta.
const (
	// InvalidSpecReason: the spec passed the CRD schema but cannot be turned into a workload.
	InvalidSpecReason = "InvalidSpec"
	// ImagePullFailedReason: the performer image cannot be pulled.
	ImagePullFailedReason = "ImagePullFailed"
	// UnschedulableReason: no node can take the performer pod, typically for lack of hardware.
	UnschedulableReason = "Unschedulable"
	// ProgressDeadlineExceededReason: the Deployment gave up waiting for the rollout.
	ProgressDeadlineExceededReason = "ProgressDeadlineExceeded"
)

// Event reasons of transitions that have no condition reason of their own.
const (
	eventProgressing     = "Progressing"
	eventReady           = "Ready"
	eventUpgradeStarted  = "UpgradeStarted"
	eventUpgradeFinished = "UpgradeSucceeded"
)

// maxMessage keeps condition messages well below the API limit of 32768 bytes.
const maxMessage = 4096

// Reconciler turns Performers into a Deployment and a Service each.
type Reconciler struct {
	client.Client
	// Recorder emits a Kubernetes event on every status transition.
	Recorder events.EventRecorder
}

// +kubebuilder:rbac:groups=hourglass.eigenlayer.io,resources=performers,verbs=get;list;watch
// +kubebuilder:rbac:groups=hourglass.eigenlayer.io,resources=performers/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=hourglass.eigenlayer.io,resources=performers/finalizers,verbs=update
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups="",resources=services,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch
// +kubebuilder:rbac:groups="";events.k8s.io,resources=events,verbs=create;patch

// Reconcile brings one Performer's workload to its spec and reports what it observes. It writes
// only what differs: an apply when the fields it owns differ from the desired ones, a status
// patch when the status changed.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	log := ctrl.LoggerFrom(ctx)

	var p v1alpha1.Performer
	if err := r.Get(ctx, req.NamespacedName, &p); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if p.Spec.Suspend {
		log.Info("reconciliation is suspended for this performer")
		return ctrl.Result{}, nil
	}

	old := p.DeepCopy()
	st := &p.Status
	if v, ok := meta.ReconcileAnnotationValue(p.GetAnnotations()); ok {
		st.LastHandledReconcileAt = v
	}

	if !p.DeletionTimestamp.IsZero() {
		// The garbage collector removes the workload; there is nothing left to apply.
		st.Phase = v1alpha1.PhaseTerminating
		st.Ready = false
		return ctrl.Result{}, r.writeStatus(ctx, old, &p, transitions{})
	}

	st.ObservedGeneration = p.Generation
	st.ServiceName = workload.Name(&p)
	st.GRPCEndpoint = workload.Endpoint(&p)

	if errs := workload.Validate(&p); len(errs) > 0 {
		markStalled(&p, InvalidSpecReason, "invalid spec: "+joinErrors(errs))
		// Nothing is applied; a spec change triggers the next attempt.
		return ctrl.Result{}, r.writeStatus(ctx, old, &p, transitions{})
	}

	dep, imageChanged, err := r.applyDeployment(ctx, &p)
	if err == nil {
		err = r.applyService(ctx, &p)
	}
	if apierrors.IsInvalid(err) {
		// The API server rejected what the spec asks for: retrying cannot help.
		markStalled(&p, InvalidSpecReason, err.Error())
		return ctrl.Result{}, r.writeStatus(ctx, old, &p, transitions{})
	}
	if err != nil {
		msg := err.Error()
		st.Ready = false
		setCondition(&p, meta.ReconcilingCondition, metav1.ConditionTrue, meta.ProgressingWithRetryReason, msg)
		setCondition(&p, meta.ReadyCondition, metav1.ConditionFalse, meta.ReconciliationFailedReason, msg)
		apimeta.RemoveStatusCondition(&st.Conditions, meta.StalledCondition)
		if werr := r.writeStatus(ctx, old, &p, transitions{}); werr != nil {
			log.Error(werr, "cannot record the failure in the status")
		}
		return ctrl.Result{}, err
	}

	var pods corev1.PodList
	if err := r.List(ctx, &pods, client.InNamespace(p.Namespace), client.MatchingLabels(workload.SelectorLabels(&p))); err != nil {
		return ctrl.Result{}, fmt.Errorf("listing pods of performer %s/%s: %w", p.Namespace, p.Name, err)
	}

	t := observe(&p, old, dep, pods.Items, imageChanged, metav1.NewTime(time.Now().Truncate(time.Second)))
	return ctrl.Result{}, r.writeStatus(ctx, old, &p, t)
}

// applyDeployment applies the desired Deployment unless the fields this controller owns already
// match it. It returns the Deployment as the API server has it now and whether an existing
// Deployment got a new image.
func (r *Reconciler) applyDeployment(ctx context.Context, p *v1alpha1.Performer) (*appsv1.Deployment, bool, error) {
	desired, err := workload.Deployment(p)
	if err != nil {
		return nil, false, err
	}
	var live appsv1.Deployment
	err = r.Get(ctx, types.NamespacedName{Namespace: p.Namespace, Name: workload.Name(p)}, &live)
	exists := err == nil
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, false, fmt.Errorf("reading Deployment %s/%s: %w", p.Namespace, workload.Name(p), err)
	}
	if exists {
		owned, err := appsv1ac.ExtractDeployment(&live, FieldManager)
		if err != nil {
			return nil, false, fmt.Errorf("reading the fields of Deployment %s/%s owned by %s: %w", live.Namespace, live.Name, FieldManager, err)
		}
		same, err := sameAs[appsv1.Deployment](desired, owned)
		if err != nil {
			return nil, false, err
		}
		if same {
			return &live, false, nil
		}

	}
	imageChanged := exists && containerImage(&live.Spec.Template.Spec) != workload.Image(p)
	if err := r.Apply(ctx, desired, client.FieldOwner(FieldManager), client.ForceOwnership); err != nil {
		return nil, false, fmt.Errorf("applying Deployment %s/%s: %w", p.Namespace, workload.Name(p), err)
	}
	applied, err := decode[appsv1.Deployment](desired)
	if err != nil {
		return nil, false, err
	}
	ctrl.LoggerFrom(ctx).Info("applied Deployment", "deployment", workload.Name(p), "created", !exists, "generation", applied.Generation)
	return applied, imageChanged, nil
}

// applyService applies the desired Service unless the fields this controller owns already match it.
func (r *Reconciler) applyService(ctx context.Context, p *v1alpha1.Performer) error {
	desired := workload.Service(p)
	var live corev1.Service
	err := r.Get(ctx, types.NamespacedName{Namespace: p.Namespace, Name: workload.Name(p)}, &live)
	exists := err == nil
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("reading Service %s/%s: %w", p.Namespace, workload.Name(p), err)
	}
	if exists {
		owned, err := corev1ac.ExtractService(&live, FieldManager)
		if err != nil {
			return fmt.Errorf("reading the fields of Service %s/%s owned by %s: %w", live.Namespace, live.Name, FieldManager, err)
		}
		same, err := sameAs[corev1.Service](desired, owned)
		if err != nil || same {
			return err
		}
	}
	if err := r.Apply(ctx, desired, client.FieldOwner(FieldManager), client.ForceOwnership); err != nil {
		return fmt.Errorf("applying Service %s/%s: %w", p.Namespace, workload.Name(p), err)
	}
	ctrl.LoggerFrom(ctx).Info("applied Service", "service", workload.Name(p), "created", !exists)
	return nil
}

// transitions are the events one reconcile has to report besides condition changes.
type transitions struct {
	upgradeStarted  string // "from -> to"
	upgradeFinished string
}

// observe sets the status from the Deployment and the pods: Ready once the rollout is complete
// and a pod of the desired image is ready, Stalled when the rollout cannot progress, Reconciling
// in between.
func observe(p *v1alpha1.Performer, old *v1alpha1.Performer, dep *appsv1.Deployment, pods []corev1.Pod, imageChanged bool, now metav1.Time) transitions {
	st := &p.Status
	var t transitions
	desired := workload.Image(p)

	upgrading := st.CurrentImage != "" && st.CurrentImage != desired
	// An upgrade starts when a new image is applied, or when a status write was lost after that.
	if upgrading && (imageChanged || (old.Status.Phase != v1alpha1.PhaseUpgrading && old.Status.Phase != v1alpha1.PhaseFailed)) {
		st.LastUpgrade = &now
		t.upgradeStarted = fmt.Sprintf("upgrading from %s to %s", st.CurrentImage, desired)
	}

	current := podsOfImage(pods, desired)
	readyPod := firstReadyPod(current)
	st.PodName = ""
	if readyPod != nil {
		st.PodName = readyPod.Name
	}

	if reason, msg := stallOf(dep, current); reason != "" {
		markStalled(p, reason, msg)
		return t
	}

	rolledOut, progress := rollout(dep)
	if rolledOut && readyPod == nil {
		rolledOut, progress = false, fmt.Sprintf("waiting for a ready pod running %s", desired)
	}
	if !rolledOut {
		st.Ready = false
		st.Phase = v1alpha1.PhasePending
		if upgrading {
			st.Phase = v1alpha1.PhaseUpgrading
		}
		apimeta.RemoveStatusCondition(&st.Conditions, meta.StalledCondition)
		setCondition(p, meta.ReconcilingCondition, metav1.ConditionTrue, meta.ProgressingReason, progress)
		setCondition(p, meta.ReadyCondition, metav1.ConditionFalse, meta.ProgressingReason, progress)
		return t
	}

	if !old.Status.Ready || st.ReadyTime == nil {
		st.ReadyTime = &now
	}
	if upgrading {
		t.upgradeFinished = fmt.Sprintf("upgraded from %s to %s", st.CurrentImage, desired)
	}
	st.CurrentImage = desired
	st.Ready = true
	st.Phase = v1alpha1.PhaseRunning
	apimeta.RemoveStatusCondition(&st.Conditions, meta.StalledCondition)
	apimeta.RemoveStatusCondition(&st.Conditions, meta.ReconcilingCondition)
	setCondition(p, meta.ReadyCondition, metav1.ConditionTrue, meta.SucceededReason,
		fmt.Sprintf("performer is serving gRPC at %s with %s", st.GRPCEndpoint, desired))
	return t
}

// rollout reports whether the Deployment has fully rolled out its current template to one ready,
// available pod, and otherwise what it is waiting for, in the words of kubectl rollout status.
func rollout(dep *appsv1.Deployment) (bool, string) {
	if dep == nil {
		return false, "waiting for the Deployment to be created"
	}
	s := dep.Status
	switch {
	case s.ObservedGeneration < dep.Generation:
		return false, fmt.Sprintf("waiting for Deployment %s to observe generation %d", dep.Name, dep.Generation)
	case s.UpdatedReplicas < 1:
		return false, fmt.Sprintf("waiting for Deployment %s rollout to finish: 0 out of 1 new replicas have been updated", dep.Name)
	case s.Replicas > s.UpdatedReplicas:
		return false, fmt.Sprintf("waiting for Deployment %s rollout to finish: %d old replicas are pending termination", dep.Name, s.Replicas-s.UpdatedReplicas)
	case s.AvailableReplicas < 1 || s.ReadyReplicas < 1:
		return false, fmt.Sprintf("waiting for Deployment %s rollout to finish: 0 of 1 updated replicas are available", dep.Name)
	}
	return true, ""
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
				return ImagePullFailedReason, fmt.Sprintf("pod %s cannot pull image %s: %s: %s", pod.Name, cs.Image, w.Reason, w.Message)
			}
		}
		for _, c := range pod.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
				return UnschedulableReason, fmt.Sprintf("pod %s cannot be scheduled: %s", pod.Name, c.Message)
			}
		}
	}
	if dep != nil && dep.Status.ObservedGeneration >= dep.Generation {
		for _, c := range dep.Status.Conditions {
			if c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionFalse && c.Reason == "ProgressDeadlineExceeded" {
				return ProgressDeadlineExceededReason, fmt.Sprintf("Deployment %s: %s", dep.Name, c.Message)
			}
		}
	}
	return "", ""
}

// markStalled records a rollout that cannot progress until something changes.
func markStalled(p *v1alpha1.Performer, reason, msg string) {
	p.Status.Ready = false
	p.Status.Phase = v1alpha1.PhaseFailed
	apimeta.RemoveStatusCondition(&p.Status.Conditions, meta.ReconcilingCondition)
	setCondition(p, meta.StalledCondition, metav1.ConditionTrue, reason, msg)
	setCondition(p, meta.ReadyCondition, metav1.ConditionFalse, reason, msg)
}

// setCondition keeps LastTransitionTime unless the status changes.
func setCondition(p *v1alpha1.Performer, typ string, status metav1.ConditionStatus, reason, msg string) {
	if len(msg) > maxMessage {
		msg = msg[:maxMessage-3] + "..."
	}
	apimeta.SetStatusCondition(&p.Status.Conditions, metav1.Condition{
		Type: typ, Status: status, Reason: reason, Message: msg, ObservedGeneration: p.Generation,
	})
}

// writeStatus patches the status when it changed, then reports the transitions as events.
func (r *Reconciler) writeStatus(ctx context.Context, old, p *v1alpha1.Performer, t transitions) error {
	if equality.Semantic.DeepEqual(old.Status, p.Status) {
		ctrl.LoggerFrom(ctx).V(1).Info("nothing changed")
		return nil
	}
	// The optimistic lock makes a reconcile that started from a stale cached Performer fail and
	// retry, rather than report a transition (and its event) a second time.
	patch := client.MergeFromWithOptions(old, client.MergeFromWithOptimisticLock{})
	if err := r.Status().Patch(ctx, p, patch, client.FieldOwner(FieldManager)); err != nil {
		return fmt.Errorf("patching the status of performer %s/%s: %w", p.Namespace, p.Name, err)
	}
	if old.Status.Phase != p.Status.Phase {
		ctrl.LoggerFrom(ctx).Info("phase changed", "from", old.Status.Phase, "to", p.Status.Phase)
	}
	r.emit(old, p, t)
	return nil
}

func (r *Reconciler) emit(old, p *v1alpha1.Performer, t transitions) {
	if r.Recorder == nil {
		return
	}
	if t.upgradeStarted != "" {
		r.Recorder.Eventf(p, nil, corev1.EventTypeNormal, eventUpgradeStarted, "Upgrade", "%s", t.upgradeStarted)
	}
	before := apimeta.FindStatusCondition(old.Status.Conditions, meta.ReadyCondition)
	after := apimeta.FindStatusCondition(p.Status.Conditions, meta.ReadyCondition)
	if after != nil && (before == nil || before.Status != after.Status || before.Reason != after.Reason) {
		stalled := apimeta.IsStatusConditionTrue(p.Status.Conditions, meta.StalledCondition)
		switch {
		case after.Status == metav1.ConditionTrue:
			r.Recorder.Eventf(p, nil, corev1.EventTypeNormal, eventReady, "Rollout", "%s", after.Message)
		case stalled:
			r.Recorder.Eventf(p, nil, corev1.EventTypeWarning, after.Reason, "Rollout", "%s", after.Message)
		case after.Reason == meta.ProgressingReason:
			r.Recorder.Eventf(p, nil, corev1.EventTypeNormal, eventProgressing, "Rollout", "%s", after.Message)
		default:
			r.Recorder.Eventf(p, nil, corev1.EventTypeWarning, after.Reason, "Rollout", "%s", after.Message)
		}
	}
	if t.upgradeFinished != "" {
		r.Recorder.Eventf(p, nil, corev1.EventTypeNormal, eventUpgradeFinished, "Upgrade", "%s", t.upgradeFinished)
	}
}

// sameAs reports whether two apply configurations of kind T say the same, comparing them as typed
// objects so that equal quantities written differently ("1000m", "1") compare equal.
func sameAs[T any](desired, owned any) (bool, error) {
	a, err := decode[T](desired)
	if err != nil {
		return false, err
	}
	b, err := decode[T](owned)
	if err != nil {
		return false, err
	}
	return equality.Semantic.DeepEqual(a, b), nil
}

func decode[T any](v any) (*T, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	out := new(T)
	return out, json.Unmarshal(b, out)
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
		if pod.DeletionTimestamp.IsZero() && containerImage(&pod.Spec) == image {
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

func firstReadyPod(pods []corev1.Pod) *corev1.Pod {
	for i := range pods {
		for _, c := range pods[i].Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				return &pods[i]
			}
		}
	}
	return nil
}

func joinErrors(errs []error) string {
	msgs := make([]string, len(errs))
	for i, err := range errs {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "; ")
}

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
	"github.com/fluxcd/pkg/runtime/conditions"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	kerrors "k8s.io/apimachinery/pkg/util/errors"
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
	// CreateContainerConfigErrorReason: the container cannot be created from its configuration,
	// typically a Secret or ConfigMap (key) it names is missing.
	CreateContainerConfigErrorReason = "CreateContainerConfigError"
	// FailedCreateReason: the ReplicaSet cannot create the pod, for example because Pod Security
	// admission or a quota refuses it.
	FailedCreateReason = "FailedCreate"
	// CrashLoopBackOffReason: the performer container keeps exiting and the kubelet restarts it
	// with growing delays. Not Stalled: the kubelet keeps trying and the performer may recover
	// (a dependency comes back); the progress deadline turns it into ProgressDeadlineExceeded.
	CrashLoopBackOffReason = "CrashLoopBackOff"
	// WorkloadNotOwnedReason: a Deployment or Service of the workload's name exists and this
	// Performer does not control it; the controller leaves it alone.
	WorkloadNotOwnedReason = "WorkloadNotOwned"
	// SecurityNotAllowedReason: the spec asks for privileges or a ServiceAccount the controller
	// was not started to allow.
	SecurityNotAllowedReason = "SecurityNotAllowed"
)

// notOwnedRetry is how often a Performer whose workload name is taken looks again: an object
// without the performer labels is not watched, so its removal sends no event.
const notOwnedRetry = time.Minute

// SuspendedCondition is True while spec.suspend is, so that a Performer whose status no longer
// moves says why.
const SuspendedCondition = "Suspended"

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
	// APIReader reads from the API server, past the caches that hold only performer workloads;
	// SetupWithManager sets the manager's.
	APIReader client.Reader
	// Security is what Performers may ask for beyond the hardened pod security defaults.
	Security workload.Allowance
	// NeverPullPolicy replaces the image pull policy Never on Performers not declared in Git (the
	// executor asks for Never on the Performers it makes); empty or Never keeps Never.
	NeverPullPolicy corev1.PullPolicy
}

// +kubebuilder:rbac:groups=hourglass.eigenlayer.io,resources=performers,verbs=get;list;watch
// +kubebuilder:rbac:groups=hourglass.eigenlayer.io,resources=performers/status,verbs=patch
// +kubebuilder:rbac:groups=hourglass.eigenlayer.io,resources=performers/finalizers,verbs=update
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups="",resources=services,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch
// +kubebuilder:rbac:groups="";events.k8s.io,resources=events,verbs=create;patch

// conflictRetry is how soon a reconcile whose status patch met a newer Performer runs again.
const conflictRetry = 250 * time.Millisecond

// Reconcile brings one Performer's workload to its spec and reports what it observes. It writes
// only what differs: an apply when the fields it owns differ from the desired ones, and one status
// patch, at the end, when the status changed.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	log := ctrl.LoggerFrom(ctx)

	p := &v1alpha1.Performer{}
	if err := r.Get(ctx, req.NamespacedName, p); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}

	old := p.DeepCopy()
	var t transitions
	defer func() {
		err := r.patchStatus(ctx, old, p, t)
		switch {
		case err == nil:
		case apierrors.IsConflict(err) && retErr == nil:
			// The cached Performer was older than the API server's: try again once the cache has
			// caught up, without the back-off of an error, which would double with every
			// conflict (after an API server restart a Performer can meet dozens in a row).
			log.V(1).Info("status changed meanwhile; reconciling again", "after", conflictRetry)
			result = ctrl.Result{RequeueAfter: conflictRetry}
		default:
			retErr = kerrors.NewAggregate([]error{retErr, err})
		}
	}()
	if p.Spec.Suspend {
		log.Info("reconciliation is suspended for this performer")
		// The rest of the status stays as it was last observed.
		conditions.MarkTrue(p, SuspendedCondition, meta.SuspendedReason,
			"spec.suspend is true: the workload is left as it is and its status is not updated")
		return ctrl.Result{}, nil
	}
	conditions.Delete(p, SuspendedCondition)
	t, retErr = r.reconcile(ctx, old, p)
	return ctrl.Result{RequeueAfter: t.requeueAfter}, retErr
}

// reconcile applies the workload and sets the status from what it finds; Reconcile writes the
// status afterwards.
func (r *Reconciler) reconcile(ctx context.Context, old, p *v1alpha1.Performer) (transitions, error) {
	st := &p.Status
	if v, ok := meta.ReconcileAnnotationValue(p.GetAnnotations()); ok {
		st.LastHandledReconcileAt = v
	}

	if !p.DeletionTimestamp.IsZero() {
		// The garbage collector removes the workload; there is nothing left to apply.
		st.Phase = v1alpha1.PhaseTerminating
		st.Ready = false
		return transitions{}, nil
	}

	if !p.Declared() {
		others, err := r.sameAVS(ctx, p)
		if err != nil {
			markFailed(p, err)
			return transitions{}, err
		}
		if twin := declaredTwin(p, others); twin != nil {
			return r.reconcileBound(ctx, old, p, twin)
		}
	}
	conditions.Delete(p, BoundCondition)

	st.ObservedGeneration = p.Generation
	st.ServiceName = workload.Name(p)
	st.GRPCEndpoint = workload.Endpoint(p)

	if errs := workload.Validate(p); len(errs) > 0 {
		// Nothing is applied; a spec change triggers the next attempt.
		markStalled(p, InvalidSpecReason, "invalid spec: "+joinErrors(errs))
		return transitions{}, nil
	}
	if errs := workload.CheckSecurity(p, r.Security); len(errs) > 0 {
		markStalled(p, SecurityNotAllowedReason, "not allowed: "+joinErrors(errs))
		return transitions{}, nil
	}

	if msg, err := r.foreignWorkload(ctx, p); err != nil || msg != "" {
		if err != nil {
			markFailed(p, err)
			return transitions{}, err
		}
		markStalled(p, WorkloadNotOwnedReason, msg)
		return transitions{requeueAfter: notOwnedRetry}, nil
	}

	dep, imageChanged, err := r.applyWorkload(ctx, r.toRun(p))
	if apierrors.IsInvalid(err) {
		// The API server rejected what the spec asks for: retrying cannot help.
		markStalled(p, InvalidSpecReason, err.Error())
		return transitions{}, nil
	}
	if err != nil {
		markFailed(p, err)
		return transitions{}, err
	}

	var pods corev1.PodList
	if err := r.List(ctx, &pods, client.InNamespace(p.Namespace), client.MatchingLabels(workload.SelectorLabels(p))); err != nil {
		err = fmt.Errorf("listing pods of performer %s/%s: %w", p.Namespace, p.Name, err)
		markFailed(p, err)
		return transitions{}, err
	}

	return observe(p, old, dep, pods.Items, imageChanged, metav1.NewTime(time.Now().Truncate(time.Second))), nil
}

// toRun is the Performer as its workload runs it: the executor asks for the image pull policy
// Never on the Performers it makes, which only works where the image was loaded onto the node by
// hand; NeverPullPolicy replaces it on Performers not declared in Git.
func (r *Reconciler) toRun(p *v1alpha1.Performer) *v1alpha1.Performer {
	if p.Declared() || p.Spec.ImagePullPolicy != corev1.PullNever || r.NeverPullPolicy == "" || r.NeverPullPolicy == corev1.PullNever {
		return p
	}
	run := p.DeepCopy()
	run.Spec.ImagePullPolicy = r.NeverPullPolicy
	return run
}

// foreignWorkload says which Deployment or Service of p's workload names exists without p as its
// controller. The caches hold only objects with the performer labels, so an object found in
// none is looked up on the API server: a server-side apply with force would otherwise take it
// over (and, for a Service, replace its selector).
func (r *Reconciler) foreignWorkload(ctx context.Context, p *v1alpha1.Performer) (string, error) {
	key := types.NamespacedName{Namespace: p.Namespace, Name: workload.Name(p)}
	for _, kind := range []struct {
		name string
		new  func() client.Object
	}{
		{"Deployment", func() client.Object { return &appsv1.Deployment{} }},
		{"Service", func() client.Object { return &corev1.Service{} }},
	} {
		obj := kind.new()
		err := r.Get(ctx, key, obj)
		if apierrors.IsNotFound(err) && r.APIReader != nil {
			obj = kind.new()
			err = r.APIReader.Get(ctx, key, obj)
		}
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("reading %s %s: %w", kind.name, key, err)
		}
		if metav1.IsControlledBy(obj, p) {
			continue
		}
		owner := "no controller"
		if ref := metav1.GetControllerOf(obj); ref != nil {
			owner = fmt.Sprintf("controller %s %s (uid %s)", ref.Kind, ref.Name, ref.UID)
		}
		return fmt.Sprintf("%s %s already exists with %s, not this Performer: the controller leaves it alone; "+
			"delete it, or rename the Performer, to let the controller create the performer's workload", kind.name, key, owner), nil
	}
	return "", nil
}

// applyWorkload applies the Deployment and the Service. It returns the Deployment as the API
// server has it now and whether an existing Deployment got a new image.
func (r *Reconciler) applyWorkload(ctx context.Context, p *v1alpha1.Performer) (*appsv1.Deployment, bool, error) {
	desired, err := workload.Deployment(p)
	if err != nil {
		return nil, false, err
	}
	dep, before, err := applyOwned(ctx, r.Client, desired, func(d *appsv1.Deployment) (any, error) {
		return appsv1ac.ExtractDeployment(d, FieldManager)
	})
	if err != nil {
		return nil, false, err
	}
	imageChanged := before != nil && dep != before && containerImage(&before.Spec.Template.Spec) != workload.Image(p)
	_, _, err = applyOwned(ctx, r.Client, workload.Service(p), func(s *corev1.Service) (any, error) {
		return corev1ac.ExtractService(s, FieldManager)
	})
	return dep, imageChanged, err
}

// object is a pointer to a Kubernetes object type T.
type object[T any] interface {
	*T
	client.Object
}

// applyConfiguration is what every typed apply configuration of client-go says about itself.
type applyConfiguration interface {
	runtime.ApplyConfiguration
	GetKind() *string
	GetNamespace() *string
	GetName() *string
}

// applyOwned applies desired unless the fields this controller owns on the live object already
// say the same (extract reads them). It returns the object as the API server has it now and the
// live object it found (nil when there was none); both are the same when nothing was applied.
func applyOwned[T any, PT object[T]](ctx context.Context, c client.Client, desired applyConfiguration,
	extract func(PT) (any, error)) (now, before PT, err error) {
	kind, ns, name := deref(desired.GetKind()), deref(desired.GetNamespace()), deref(desired.GetName())
	live := PT(new(T))
	switch err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, live); {
	case apierrors.IsNotFound(err):
		live = nil
	case err != nil:
		return nil, nil, fmt.Errorf("reading %s %s/%s: %w", kind, ns, name, err)
	default:
		owned, err := extract(live)
		if err != nil {
			return nil, nil, fmt.Errorf("reading the fields of %s %s/%s owned by %s: %w", kind, ns, name, FieldManager, err)
		}
		same, err := sameAs[T](desired, owned)
		if err != nil {
			return nil, nil, err
		}
		if same {
			return live, live, nil
		}
	}
	err = c.Apply(ctx, desired, client.FieldOwner(FieldManager), client.ForceOwnership)
	if apierrors.IsInvalid(err) && live != nil {
		// A hand edit of a list entry's key (a Service's port number, a container port) leaves the
		// edited entry in place, and the apply adds the controller's entry beside it: two entries
		// of one name, which the API server refuses. Put the spec back as desired, lists whole,
		// then apply again to own it.
		if perr := replaceSpec(ctx, c, live, desired); perr != nil {
			return nil, nil, fmt.Errorf("applying %s %s/%s: %w; restoring its spec: %v", kind, ns, name, err, perr)
		}
		ctrl.LoggerFrom(ctx).Info("restored a hand-edited spec", "kind", kind, "name", name)
		err = c.Apply(ctx, desired, client.FieldOwner(FieldManager), client.ForceOwnership)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("applying %s %s/%s: %w", kind, ns, name, err)
	}
	// The apply wrote the API server's answer back into desired.
	applied, err := workload.Convert[T](desired)
	if err != nil {
		return nil, nil, err
	}
	now = applied
	ctrl.LoggerFrom(ctx).V(1).Info("applied "+kind, "name", name, "created", live == nil, "generation", now.GetGeneration())
	return now, live, nil
}

// replaceSpec sets the spec of live to the desired one with a JSON merge patch, which replaces
// lists whole where server-side apply merges them by key.
func replaceSpec(ctx context.Context, c client.Client, live client.Object, desired applyConfiguration) error {
	b, err := json.Marshal(desired)
	if err != nil {
		return err
	}
	var obj struct {
		Spec json.RawMessage `json:"spec"`
	}
	if err := json.Unmarshal(b, &obj); err != nil {
		return err
	}
	patch, err := json.Marshal(map[string]json.RawMessage{"spec": obj.Spec})
	if err != nil {
		return err
	}
	return c.Patch(ctx, live, client.RawPatch(types.MergePatchType, patch), client.FieldOwner(FieldManager))
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// transitions are the events one reconcile has to report besides condition changes.
type transitions struct {
	upgradeStarted  string // "from -> to"
	upgradeFinished string
	requeueAfter    time.Duration
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
		reason := meta.ProgressingReason
		if crash := crashLooping(current); crash != "" {
			reason, progress = CrashLoopBackOffReason, crash
		}
		conditions.MarkReconciling(p, reason, "%s", short(progress))
		conditions.MarkFalse(p, meta.ReadyCondition, reason, "%s", short(progress))
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
	conditions.Delete(p, meta.StalledCondition)
	conditions.Delete(p, meta.ReconcilingCondition)
	conditions.MarkTrue(p, meta.ReadyCondition, meta.SucceededReason,
		"performer is serving gRPC at %s with %s", st.GRPCEndpoint, desired)
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

// crashLooping finds a pod whose performer container keeps crashing, and says how it last ended.
func crashLooping(pods []corev1.Pod) string {
	for i := range pods {
		for _, cs := range pods[i].Status.ContainerStatuses {
			w := cs.State.Waiting
			if w == nil || w.Reason != CrashLoopBackOffReason {
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
				return ImagePullFailedReason, fmt.Sprintf("pod %s cannot pull image %s: %s: %s", pod.Name, cs.Image, w.Reason, w.Message)
			case CreateContainerConfigErrorReason:
				return CreateContainerConfigErrorReason, fmt.Sprintf("pod %s: container %s cannot be created: %s", pod.Name, cs.Name, w.Message)
			}
		}
		for _, c := range pod.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
				return UnschedulableReason, fmt.Sprintf("pod %s cannot be scheduled: %s", pod.Name, c.Message)
			}
		}
	}
	if dep != nil {
		// The Deployment controller copies a ReplicaSet's failure to create pods here.
		for _, c := range dep.Status.Conditions {
			if c.Type == appsv1.DeploymentReplicaFailure && c.Status == corev1.ConditionTrue {
				return FailedCreateReason, fmt.Sprintf("Deployment %s cannot create the performer pod: %s: %s", dep.Name, c.Reason, c.Message)
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
	if equality.Semantic.DeepEqual(old.Status, p.Status) {
		ctrl.LoggerFrom(ctx).V(1).Info("nothing changed")
		return nil
	}
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
	if b := conditions.Get(p, BoundCondition); b != nil && b.Status == metav1.ConditionTrue {
		if ob := conditions.Get(old, BoundCondition); ob == nil || ob.Status != b.Status || ob.Message != b.Message {
			r.Recorder.Eventf(p, nil, corev1.EventTypeNormal, eventBound, "Bind", "%s", b.Message)
		}
	}
	if t.upgradeStarted != "" {
		r.Recorder.Eventf(p, nil, corev1.EventTypeNormal, eventUpgradeStarted, "Upgrade", "%s", t.upgradeStarted)
	}
	before := conditions.Get(old, meta.ReadyCondition)
	after := conditions.Get(p, meta.ReadyCondition)
	if after != nil && (before == nil || before.Status != after.Status || before.Reason != after.Reason) {
		stalled := conditions.IsStalled(p)
		switch {
		case after.Status == metav1.ConditionTrue:
			r.Recorder.Eventf(p, nil, corev1.EventTypeNormal, eventReady, "Rollout", "%s", after.Message)
		case stalled:
			r.Recorder.Eventf(p, nil, corev1.EventTypeWarning, after.Reason, "Rollout", "%s", after.Message)
		case after.Reason == meta.ProgressingReason || after.Reason == meta.DependencyNotReadyReason:
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
	a, err := workload.Convert[T](desired)
	if err != nil {
		return false, err
	}
	b, err := workload.Convert[T](owned)
	if err != nil {
		return false, err
	}
	return equality.Semantic.DeepEqual(a, b), nil
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

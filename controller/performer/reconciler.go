// Package performer holds the Performer reconciler: it applies each Performer's Deployment and
// Service with server-side apply and reports the rollout in the Performer status, with the Flux
// conditions that kstatus, Flux health checks and Argo CD understand.
package performer

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	"github.com/fluxcd/pkg/runtime/conditions"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	kerrors "k8s.io/apimachinery/pkg/util/errors"
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

	// patched remembers the resourceVersion each Performer's last status patch started from.
	patched patchLog
	// same remembers which Deployments and Services were last found as desired.
	same sameMemo
}

// patchLog tells a cached Performer that predates the controller's own last status patch: a
// reconcile that read it would compute the status from before that patch and send one the API
// server must refuse (the optimistic lock). Such a reconcile waits for the cache instead.
type patchLog struct {
	mu   sync.Mutex
	from map[types.NamespacedName]string
}

// stale reports whether p is the version the last status patch of p started from, and forgets
// that patch once the cache has moved past it.
func (l *patchLog) stale(p *v1alpha1.Performer) bool {
	key := client.ObjectKeyFromObject(p)
	l.mu.Lock()
	defer l.mu.Unlock()
	from, ok := l.from[key]
	if ok && from == p.ResourceVersion {
		return true
	}
	delete(l.from, key)
	return false
}

func (l *patchLog) record(key types.NamespacedName, from string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.from == nil {
		l.from = map[types.NamespacedName]string{}
	}
	l.from[key] = from
}

func (l *patchLog) forget(key types.NamespacedName) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.from, key)
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

// staleRetry is how soon a reconcile that found the cache behind the controller's own status
// patch runs again: the watch event of that patch is usually milliseconds away.
const staleRetry = 50 * time.Millisecond

// Reconcile brings one Performer's workload to its spec and reports what it observes. It writes
// only what differs: an apply when the fields it owns differ from the desired ones, and one status
// patch, at the end, when the status changed.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	log := ctrl.LoggerFrom(ctx)

	p := &v1alpha1.Performer{}
	if err := r.Get(ctx, req.NamespacedName, p); err != nil {
		if apierrors.IsNotFound(err) {
			r.patched.forget(req.NamespacedName)
			return ctrl.Result{}, r.deleteWorkload(ctx, req.NamespacedName)
		}
		return ctrl.Result{}, err
	}
	if r.patched.stale(p) {
		log.V(1).Info("the cache has not seen the last status patch yet; reconciling again", "after", staleRetry)
		return ctrl.Result{RequeueAfter: staleRetry}, nil
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
		if !conditions.IsTrue(p, SuspendedCondition) {
			log.Info("reconciliation is suspended for this performer")
		}
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

	live, msg, err := r.foreignWorkload(ctx, p)
	if err != nil || msg != "" {
		if err != nil {
			markFailed(p, err)
			return transitions{}, err
		}
		markStalled(p, WorkloadNotOwnedReason, msg)
		return transitions{requeueAfter: notOwnedRetry}, nil
	}

	dep, imageChanged, err := r.applyWorkload(ctx, r.toRun(p), live)
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
	// The pod cache holds performer pods only (CacheOptions), so the name is the whole selector.
	// observe only reads the pods: no copy of them.
	if err := r.List(ctx, &pods, client.InNamespace(p.Namespace), client.MatchingFields{podPerformerField: p.Name},
		client.UnsafeDisableDeepCopy); err != nil {
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

// liveWorkload is a Performer's Deployment and Service as the controller found them: nil where
// there is none.
type liveWorkload struct {
	dep *appsv1.Deployment
	svc *corev1.Service
}

// foreignWorkload looks up p's Deployment and Service, at once, and says which of them exists
// without p as its controller. The caches hold only objects with the performer labels, so an
// object found in none is looked up on the API server: a server-side apply with force would
// otherwise take it over (and, for a Service, replace its selector).
func (r *Reconciler) foreignWorkload(ctx context.Context, p *v1alpha1.Performer) (liveWorkload, string, error) {
	var (
		live           liveWorkload
		depMsg, svcMsg string
	)
	err := both(func() (err error) {
		live.dep, depMsg, err = foreign[appsv1.Deployment](ctx, r, p, "Deployment")
		return err
	}, func() (err error) {
		live.svc, svcMsg, err = foreign[corev1.Service](ctx, r, p, "Service")
		return err
	})
	if depMsg != "" {
		return live, depMsg, err
	}
	return live, svcMsg, err
}

// foreign looks up one object of p's workload, first in the cache and, when not there, on the API
// server. It returns the object (nil when there is none) and why the controller must leave it
// alone, if so.
func foreign[T any, PT object[T]](ctx context.Context, r *Reconciler, p *v1alpha1.Performer, kind string) (PT, string, error) {
	obj := PT(new(T))
	key := types.NamespacedName{Namespace: p.Namespace, Name: workload.Name(p)}
	err := r.Get(ctx, key, obj)
	if apierrors.IsNotFound(err) && r.APIReader != nil {
		// From the API server's watch cache (resourceVersion 0), not etcd: as recent as a read
		// from etcd can be a moment later, and cheap in a burst of new Performers.
		err = r.APIReader.Get(ctx, key, obj, &client.GetOptions{Raw: &metav1.GetOptions{ResourceVersion: "0"}})
	}
	if apierrors.IsNotFound(err) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("reading %s %s: %w", kind, key, err)
	}
	if metav1.IsControlledBy(obj, p) {
		return obj, "", nil
	}
	owner := "no controller"
	if ref := metav1.GetControllerOf(obj); ref != nil {
		owner = fmt.Sprintf("controller %s %s (uid %s)", ref.Kind, ref.Name, ref.UID)
	}
	return obj, fmt.Sprintf("%s %s already exists with %s, not this Performer: the controller leaves it alone; "+
		"delete it, or rename the Performer, to let the controller create the performer's workload", kind, key, owner), nil
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
	// Named once the rollout is done, with currentImage: a name set earlier would cost a write
	// of its own in the middle of the rollout.
	st.PodName = ""

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
	st.PodName = readyPod.Name
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
	if p.ResourceVersion != old.ResourceVersion {
		// (A patch the API server found to change nothing keeps the resourceVersion, and no
		// watch event would ever move the cache past it.)
		r.patched.record(client.ObjectKeyFromObject(p), old.ResourceVersion)
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
	// Events mark what a reader of kubectl describe or a notification wants to know: ready,
	// upgraded, or why not. A rollout making progress is no event: the Reconciling condition
	// says it, and UpgradeStarted marks an upgrade's start.
	before := conditions.Get(old, meta.ReadyCondition)
	after := conditions.Get(p, meta.ReadyCondition)
	changed := after != nil && (before == nil || before.Status != after.Status || before.Reason != after.Reason)
	switch {
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

// Package performer holds the Performer reconciler: it applies each Performer's Deployment and
// Service with server-side apply and reports the rollout in the Performer status, with the Flux
// conditions that kstatus, Flux health checks and Argo CD understand.
package performer

import (
	"context"
	"fmt"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	"github.com/fluxcd/pkg/runtime/conditions"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
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

// notOwnedRetry is how often a Performer whose workload name is taken looks again: an object
// without the performer labels is not watched, so its removal sends no event.
const notOwnedRetry = time.Minute

// Reconciler turns Performers into a Deployment and a Service each.
type Reconciler struct {
	client.Client
	// Recorder emits the Kubernetes events of the transitions a person needs to know of (emit).
	Recorder events.EventRecorder
	// APIReader reads from the API server, past the caches that hold only performer workloads;
	// SetupWithManager sets the manager's.
	APIReader client.Reader
	// Names holds the name, UID and owner references of every Deployment and Service of the
	// watched namespaces (names.go): a workload name it does not hold is free, without asking the
	// API server. SetupWithManager makes it for Namespaces (none: all namespaces).
	Names      client.Reader
	Namespaces []string
	// Security is what Performers may ask for beyond the hardened pod security defaults.
	Security workload.Allowance
	// NeverPullPolicy replaces the image pull policy Never on Performers not declared in Git (the
	// executor asks for Never on the Performers it makes); empty or Never keeps Never.
	NeverPullPolicy corev1.PullPolicy
	// AllowUndeclared gives a Performer that is not declared in Git, and has no declared
	// Performer of its AVS to bind to, a workload of its own. Off, it waits (NotDeclared): whoever
	// may create Performers in a namespace would otherwise run any image with any of its Secrets.
	AllowUndeclared bool
	// QuietPeriod is how long a rollout may go without a visible step before its status is
	// written (quiet.go); zero writes it when the rollout starts.
	QuietPeriod time.Duration

	// patched remembers the resourceVersion each Performer's last status patch started from.
	patched patchLog
	// same remembers which Deployments and Services were last found as desired.
	same sameMemo
	// rollouts remembers the rollouts not reported yet: when each began and last made a step
	// (quiet.go).
	rollouts rollouts
}

// +kubebuilder:rbac:groups=hourglass.eigenlayer.io,resources=performers,verbs=get;list;watch;delete
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
			r.rollouts.forget(req.NamespacedName, 0)
			return ctrl.Result{}, r.deleteWorkload(ctx, req.NamespacedName)
		}
		return ctrl.Result{}, err
	}
	if r.patched.stale(p) {
		log.V(1).Info("the cache has not seen the last status patch yet; reconciling again", "after", staleRetry)
		return ctrl.Result{RequeueAfter: staleRetry}, nil
	}
	// Performers an executor pod left over from its earlier starts go first (leftovers.go).
	if gone, err := r.removeLeftovers(ctx, p); gone || err != nil {
		return ctrl.Result{}, err
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
		if !conditions.IsTrue(p, v1alpha1.SuspendedCondition) {
			log.Info("reconciliation is suspended for this performer")
		}
		// The rest of the status stays as it was last observed.
		conditions.MarkTrue(p, v1alpha1.SuspendedCondition, meta.SuspendedReason,
			"spec.suspend is true: the workload is left as it is and its status is not updated")
		return ctrl.Result{}, nil
	}
	conditions.Delete(p, v1alpha1.SuspendedCondition)
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
		declared, err := r.ofAVS(ctx, p, true)
		if err != nil {
			markFailed(p, err)
			return transitions{}, err
		}
		if twin := declaredTwin(p, declared); twin != nil {
			return r.reconcileBound(ctx, old, p, twin)
		}
		if !r.AllowUndeclared {
			return r.reconcileNotDeclared(ctx, p)
		}
	}
	conditions.Delete(p, v1alpha1.BoundCondition)

	st.ObservedGeneration = p.Generation
	st.ServiceName = workload.Name(p)
	st.GRPCEndpoint = p.Endpoint()

	if errs := workload.Validate(p); len(errs) > 0 {
		// Nothing is applied; a spec change triggers the next attempt.
		return transitions{}, stall(p, v1alpha1.InvalidSpecReason, "invalid spec: "+joinErrors(errs))
	}
	if errs := workload.CheckSecurity(p, r.Security); len(errs) > 0 {
		return transitions{}, stall(p, v1alpha1.SecurityNotAllowedReason, "not allowed: "+joinErrors(errs))
	}

	live, msg, err := r.foreignWorkload(ctx, p)
	if err != nil || msg != "" {
		if err != nil {
			markFailed(p, err)
			return transitions{}, err
		}
		markStalled(p, v1alpha1.WorkloadNotOwnedReason, msg)
		return transitions{requeueAfter: notOwnedRetry}, nil
	}

	dep, imageChanged, err := r.applyWorkload(ctx, r.toRun(p), live)
	notCached := err != nil && !hasOtherThan(err, errNotCached)
	if notCached {
		err = nil
	}
	if apierrors.IsInvalid(err) {
		// The API server rejected what the spec asks for: retrying cannot help.
		return transitions{}, stall(p, v1alpha1.InvalidSpecReason, err.Error())
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

	now := time.Now()
	started, stepped := now, now
	if old.Status.ObservedGeneration != p.Generation {
		// A generation not reported yet: its rollout may go quiet (quiet.go), and it began when
		// the controller first saw it, not when its status is written.
		started, stepped = r.rollouts.seen(old, p, stepOf(dep, pods.Items, p.Image()), now)
	}
	t := observe(p, old, dep, pods.Items, imageChanged, metav1.NewTime(now.Truncate(time.Second)), metav1.NewTime(started.Truncate(time.Second)))
	if wait := holdRollout(old, p, r.QuietPeriod, stepped, now); wait > 0 {
		t.hold, t.requeueAfter = true, wait
	}
	if notCached && (t.requeueAfter == 0 || t.requeueAfter > cacheGrace) {
		// Its watch event reconciles again too; this is in case the object went meanwhile.
		t.requeueAfter = cacheGrace
	}
	return t, nil
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
		live.dep, depMsg, err = foreign[appsv1.Deployment](ctx, r, p, deploymentGVK)
		return err
	}, func() (err error) {
		live.svc, svcMsg, err = foreign[corev1.Service](ctx, r, p, serviceGVK)
		return err
	})
	if depMsg != "" {
		return live, depMsg, err
	}
	return live, svcMsg, err
}

// foreign looks up one object of p's workload, first in the cache and, when not there but the
// names cache holds the name, on the API server. It returns the object (nil when there is none)
// and why the controller must leave it alone, if so.
func foreign[T any, PT object[T]](ctx context.Context, r *Reconciler, p *v1alpha1.Performer, gvk schema.GroupVersionKind) (PT, string, error) {
	kind := gvk.Kind
	obj := PT(new(T))
	key := types.NamespacedName{Namespace: p.Namespace, Name: workload.Name(p)}
	err := r.Get(ctx, key, obj)
	if apierrors.IsNotFound(err) {
		// The usual case of a new Performer: the name is free, and an apply creates the object.
		taken, terr := r.nameTaken(ctx, gvk, key)
		if terr != nil {
			return nil, "", fmt.Errorf("looking up %s %s: %w", kind, key, terr)
		}
		if !taken {
			return nil, "", nil
		}
	}
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

package performer

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	"github.com/fluxcd/pkg/runtime/conditions"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/hourglass-gitops/hourglass-gitops/api/v1alpha1"
	"github.com/hourglass-gitops/hourglass-gitops/controller/workload"
)

// The Hourglass executor creates a Performer of its own for each AVS it serves and waits for it to
// become ready. In GitOps the performer is declared in Git instead. A Performer that is not
// declared, for an AVS whose Performer in the same namespace is, is bound to that declared
// Performer: it gets no workload of its own and reports the declared one's readiness, so the
// executor finds its performer ready and uses the one Git runs. A Performer that is not declared
// and has no declared Performer to bind to runs nothing and waits (NotDeclared), unless the
// controller was started with --allow-undeclared-performers: whoever may create Performers in a
// namespace would otherwise run any image with any of that namespace's Secrets.

// Event reasons of bindings.
const (
	eventBound           = "Bound"
	eventWorkloadRemoved = "WorkloadRemoved"
)

// avsAddressField indexes Performers by whether they are declared and by their AVS address, lower
// case (Ethereum addresses are case-insensitive and may come with or without the checksum
// capitalisation): a Performer's reconcile looks up only the declared Performers of its AVS, and
// a declared Performer's change only the undeclared ones, however many Performers one AVS has.
const avsAddressField = "declared/spec.avsAddress"

func avsKey(p *v1alpha1.Performer) string { return strings.ToLower(p.Spec.AVSAddress) }

// avsIndexKey is the index value of a Performer serving avs (an avsKey), declared or not.
func avsIndexKey(declared bool, avs string) string {
	if declared {
		return "declared/" + avs
	}
	return "undeclared/" + avs
}

func indexAVSAddress(o client.Object) []string {
	p, ok := o.(*v1alpha1.Performer)
	if !ok || p.Spec.AVSAddress == "" {
		return nil
	}
	return []string{avsIndexKey(p.Declared(), avsKey(p))}
}

// ofAVS lists the Performers in p's namespace that serve p's AVS and are declared, or not. They
// are the cache's own objects, not copies: read them, never change them.
func (r *Reconciler) ofAVS(ctx context.Context, p *v1alpha1.Performer, declared bool) ([]v1alpha1.Performer, error) {
	var list v1alpha1.PerformerList
	if err := r.List(ctx, &list, client.InNamespace(p.Namespace),
		client.MatchingFields{avsAddressField: avsIndexKey(declared, avsKey(p))}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing the Performers of AVS %s in namespace %s: %w", p.Spec.AVSAddress, p.Namespace, err)
	}
	return list.Items, nil
}

// declaredTwin finds the declared Performer that p, not declared itself, is bound to: among the
// declared Performers of p's AVS in p's namespace that are not being deleted, one that runs the
// image p asks for if any does; of those a Ready one if any is, then the oldest, then the first
// by name. Nil when p is declared or no declared Performer serves its AVS.
func declaredTwin(p *v1alpha1.Performer, candidates []v1alpha1.Performer) *v1alpha1.Performer {
	if p.Declared() {
		return nil
	}
	want := p.Image()
	var best *v1alpha1.Performer
	for i := range candidates {
		c := &candidates[i]
		if !c.Declared() || !c.DeletionTimestamp.IsZero() || avsKey(c) != avsKey(p) {
			continue
		}
		if best == nil || betterTwin(c, best, want) {
			best = c
		}
	}
	return best
}

// betterTwin tells whether declared Performer c serves a Performer asking for image want better
// than best does.
func betterTwin(c, best *v1alpha1.Performer, want string) bool {
	if cMatch, bestMatch := c.Image() == want, best.Image() == want; cMatch != bestMatch {
		return cMatch
	}
	if cReady, bestReady := twinReady(c), twinReady(best); cReady != bestReady {
		return cReady
	}
	if !c.CreationTimestamp.Equal(&best.CreationTimestamp) {
		return c.CreationTimestamp.Before(&best.CreationTimestamp)
	}
	return c.Name < best.Name
}

// twinReady tells whether the declared Performer is Ready for its current spec.
func twinReady(d *v1alpha1.Performer) bool {
	return d.Status.ObservedGeneration == d.Generation && d.Status.Ready && conditions.IsReady(d) &&
		d.Status.CurrentImage == d.Image()
}

// reconcileBound reports the status of a Performer bound to the declared Performer twin, after
// removing any workload it had of its own.
func (r *Reconciler) reconcileBound(ctx context.Context, old, p, twin *v1alpha1.Performer) (transitions, error) {
	st := &p.Status
	st.ObservedGeneration = p.Generation
	st.ServiceName = workload.Name(twin)
	st.GRPCEndpoint = twin.Endpoint()
	declaration := twin.Annotations[v1alpha1.DeclarationAnnotation]

	if err := r.removeWorkload(ctx, p, twin); err != nil {
		markFailed(p, err)
		return transitions{}, err
	}

	want, runs := p.Image(), twin.Image()
	if want != runs {
		msg := fmt.Sprintf("asks for image %s but Performer %s, declared in Git by %s for AVS %s, runs %s: "+
			"to run another version, change the image in that declaration in Git",
			want, twin.Name, declaration, p.Spec.AVSAddress, runs)
		conditions.MarkFalse(p, v1alpha1.BoundCondition, v1alpha1.ImageNotDeclaredReason, "%s", short(msg))
		st.PodName = ""
		st.NodeName = ""
		return transitions{}, stall(p, v1alpha1.ImageNotDeclaredReason, msg)
	}
	conditions.MarkTrue(p, v1alpha1.BoundCondition, v1alpha1.DeclaredInGitReason,
		"served by Performer %s, declared in Git by %s; no workload of its own", twin.Name, declaration)

	if !twinReady(twin) {
		st.Ready = false
		st.Phase = v1alpha1.PhasePending
		st.PodName = ""
		st.NodeName = ""
		msg := fmt.Sprintf("waiting for Performer %s, declared in Git, to be ready", twin.Name)
		if c := conditions.Get(twin, meta.ReadyCondition); c != nil && c.Message != "" {
			msg += ": " + c.Message
		}
		conditions.MarkReconciling(p, meta.DependencyNotReadyReason, "%s", short(msg))
		conditions.MarkFalse(p, meta.ReadyCondition, meta.DependencyNotReadyReason, "%s", short(msg))
		return transitions{}, nil
	}

	if !old.Status.Ready || st.ReadyTime == nil {
		now := metav1.NewTime(time.Now().Truncate(time.Second))
		st.ReadyTime = &now
	}
	st.Ready = true
	st.Phase = v1alpha1.PhaseRunning
	st.PodName = twin.Status.PodName
	st.NodeName = twin.Status.NodeName
	st.CurrentImage = twin.Status.CurrentImage
	conditions.Delete(p, meta.StalledCondition)
	conditions.Delete(p, meta.ReconcilingCondition)
	conditions.MarkTrue(p, meta.ReadyCondition, meta.SucceededReason,
		"served by Performer %s, declared in Git, at %s with %s", twin.Name, st.GRPCEndpoint, st.CurrentImage)
	return transitions{}, nil
}

// reconcileNotDeclared reports a Performer that is not declared in Git and has no declared
// Performer to bind to: it runs nothing (a workload it had before is removed) and waits for a
// Performer of its AVS to be declared in Git.
func (r *Reconciler) reconcileNotDeclared(ctx context.Context, p *v1alpha1.Performer) (transitions, error) {
	st := &p.Status
	st.ObservedGeneration = p.Generation
	if err := r.removeWorkload(ctx, p, nil); err != nil {
		markFailed(p, err)
		return transitions{}, err
	}
	st.Ready = false
	st.Phase = v1alpha1.PhasePending
	st.PodName, st.ServiceName, st.GRPCEndpoint = "", "", ""
	msg := fmt.Sprintf("not declared in Git, and no Performer of AVS %s in namespace %s is: declare the performer "+
		"of this AVS in Git (an AVSExecutor declaration, or a Performer with the annotation %s); "+
		"the controller runs no workload for Performers not declared in Git",
		p.Spec.AVSAddress, p.Namespace, v1alpha1.DeclarationAnnotation)
	conditions.Delete(p, v1alpha1.BoundCondition)
	conditions.Delete(p, meta.StalledCondition)
	conditions.MarkReconciling(p, v1alpha1.NotDeclaredReason, "%s", short(msg))
	conditions.MarkFalse(p, meta.ReadyCondition, v1alpha1.NotDeclaredReason, "%s", short(msg))
	return transitions{}, nil
}

// removeWorkload deletes the Deployment and Service that p controls, if it has any: a Performer
// made before its declared twin appeared, or while undeclared Performers were allowed, ran a
// workload of its own. twin is the declared Performer that serves p instead, if any.
func (r *Reconciler) removeWorkload(ctx context.Context, p, twin *v1alpha1.Performer) error {
	key := types.NamespacedName{Namespace: p.Namespace, Name: workload.Name(p)}
	deleted, err := r.deleteControlled(ctx, key, func(ref *metav1.OwnerReference) bool { return ref.UID == p.UID })
	why, declared := "no Performer of this AVS is declared in Git", ""
	var related runtime.Object
	if twin != nil {
		why, declared, related = fmt.Sprintf("Performer %s, declared in Git, serves this AVS", twin.Name), twin.Name, twin
	}
	for _, kind := range deleted {
		ctrl.LoggerFrom(ctx).Info("removed the workload of a performer not declared in Git", "kind", kind, "name", key.Name, "declared", declared)
		if r.Recorder != nil {
			r.Recorder.Eventf(p, related, corev1.EventTypeNormal, eventWorkloadRemoved, "Bind", "deleted %s %s: %s", kind, key.Name, why)
		}
	}
	if err != nil {
		return fmt.Errorf("removing the workload of a Performer not declared in Git (%s): %w", why, err)
	}
	return nil
}

// boundPerformers maps a declared Performer to the Performers bound, or to be bound, to it, so
// that they follow its status within moments. boundChanged lets through only the changes they
// mirror.
func (r *Reconciler) boundPerformers(ctx context.Context, o client.Object) []reconcile.Request {
	d, ok := o.(*v1alpha1.Performer)
	if !ok || !d.Declared() || d.Spec.AVSAddress == "" {
		return nil
	}
	bound, err := r.ofAVS(ctx, d, false)
	if err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "cannot find the Performers bound to a declared one", "performer", d.Name)
		return nil
	}
	out := make([]reconcile.Request, 0, len(bound))
	for i := range bound {
		out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&bound[i])})
	}
	return out
}

// mirror is what of a declared Performer the Performers bound to it read: which declared
// Performer they bind to (image, readiness, age, deletion) and what they report of it.
type mirror struct {
	declared     bool
	declaration  string
	avs          string
	image        string
	currentImage string
	endpoint     string
	podName      string
	ready        bool
	observed     bool
	readyStatus  metav1.ConditionStatus
	readyReason  string
	readyMessage string
	deleting     bool
}

func mirrorOf(p *v1alpha1.Performer) mirror {
	m := mirror{
		declared:     p.Declared(),
		declaration:  p.Annotations[v1alpha1.DeclarationAnnotation],
		avs:          avsKey(p),
		image:        p.Image(),
		currentImage: p.Status.CurrentImage,
		endpoint:     p.Endpoint(),
		podName:      p.Status.PodName,
		ready:        p.Status.Ready,
		observed:     p.Status.ObservedGeneration == p.Generation,
		deleting:     !p.DeletionTimestamp.IsZero(),
	}
	if c := conditions.Get(p, meta.ReadyCondition); c != nil {
		m.readyStatus, m.readyReason, m.readyMessage = c.Status, c.Reason, c.Message
	}
	return m
}

// boundChanged passes the changes of a declared Performer that the Performers bound to it
// mirror, and its creation and deletion: with a thousand Performers of one AVS (one per executor
// restart) every other change would reconcile them all for nothing.
func boundChanged() predicate.Predicate {
	declared := func(o client.Object) bool {
		p, ok := o.(*v1alpha1.Performer)
		return ok && p.Declared()
	}
	return predicate.Funcs{
		CreateFunc:  func(e event.CreateEvent) bool { return declared(e.Object) },
		DeleteFunc:  func(e event.DeleteEvent) bool { return declared(e.Object) },
		GenericFunc: func(e event.GenericEvent) bool { return declared(e.Object) },
		UpdateFunc: func(e event.UpdateEvent) bool {
			old, okOld := e.ObjectOld.(*v1alpha1.Performer)
			p, okNew := e.ObjectNew.(*v1alpha1.Performer)
			if !okOld || !okNew || (!old.Declared() && !p.Declared()) {
				return false
			}
			return mirrorOf(old) != mirrorOf(p)
		},
	}
}

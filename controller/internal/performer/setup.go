package performer

import (
	"context"
	"fmt"

	"github.com/fluxcd/pkg/runtime/predicates"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/hourglass-gitops/hourglass-gitops/api/v1alpha1"
	"github.com/hourglass-gitops/hourglass-gitops/controller/workload"
)

// SetupWithManager registers the reconciler. It reconciles a Performer when its spec changes, a
// reconcile is requested through the reconcile.fluxcd.io/requestedAt annotation, or its deletion
// starts, and whenever its Deployment, Service or pods change. There is no periodic resync: every
// change that matters arrives as a watch event.
//
// Performers are indexed by AVS address, and every change of a Performer declared in Git that the
// Performers bound to it mirror (its readiness, image, endpoint, pod) reconciles them, so that
// they report its readiness at once. A Performer whose pod left older ones for its AVS reconciles
// the newest, which deletes them (leftovers.go).
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager, opts controller.Options) error {
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	if r.Names == nil {
		names, err := newNamesCache(mgr, r.Namespaces)
		if err != nil {
			return err
		}
		r.Names = names
	}
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &v1alpha1.Performer{}, avsAddressField, indexAVSAddress); err != nil {
		return fmt.Errorf("indexing Performers by %s: %w", avsAddressField, err)
	}
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &corev1.Pod{}, podPerformerField, indexPodPerformer); err != nil {
		return fmt.Errorf("indexing pods by %s: %w", podPerformerField, err)
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("performer").
		For(&v1alpha1.Performer{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicates.ReconcileRequestedPredicate{}, deletionStarted(), declarationChanged()))).
		Owns(&appsv1.Deployment{}).
		Owns(&corev1.Service{}).
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(podToPerformer)).
		Watches(&v1alpha1.Performer{}, handler.EnqueueRequestsFromMapFunc(r.boundPerformers), builder.WithPredicates(boundChanged())).
		Watches(&v1alpha1.Performer{}, handler.EnqueueRequestsFromMapFunc(r.handOverDone)).
		WithOptions(opts).
		Complete(r)
}

// podPerformerField indexes the cached performer pods by their Performer's name: a label
// selector would be matched against every pod of the namespace, in every reconcile.
const podPerformerField = "performer"

func indexPodPerformer(o client.Object) []string {
	if name := o.GetLabels()[workload.PerformerLabel]; name != "" {
		return []string{name}
	}
	return nil
}

// podToPerformer maps a performer pod to its Performer by the performer label.
func podToPerformer(_ context.Context, o client.Object) []reconcile.Request {
	name := o.GetLabels()[workload.PerformerLabel]
	if name == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: name}}}
}

// declarationChanged passes the update that adds, changes or removes the declaration annotation:
// annotations do not bump the generation, and declaring a Performer that exists already (one the
// upstream operator ran, say) must give it its workload at once.
func declarationChanged() predicate.Predicate {
	return predicate.Funcs{
		CreateFunc:  func(event.CreateEvent) bool { return false },
		DeleteFunc:  func(event.DeleteEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
		UpdateFunc: func(e event.UpdateEvent) bool {
			return e.ObjectOld.GetAnnotations()[v1alpha1.DeclarationAnnotation] != e.ObjectNew.GetAnnotations()[v1alpha1.DeclarationAnnotation]
		},
	}
}

// deletionStarted passes the update that sets the deletion timestamp (foreground deletion), so
// the phase becomes Terminating.
func deletionStarted() predicate.Predicate {
	return predicate.Funcs{
		CreateFunc:  func(event.CreateEvent) bool { return false },
		DeleteFunc:  func(event.DeleteEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
		UpdateFunc: func(e event.UpdateEvent) bool {
			return e.ObjectOld.GetDeletionTimestamp().IsZero() && !e.ObjectNew.GetDeletionTimestamp().IsZero()
		},
	}
}

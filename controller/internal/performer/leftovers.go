package performer

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/hourglass-gitops/hourglass-gitops/api/v1alpha1"
)

// The Hourglass executor creates a Performer of its own for each AVS at every start, under a new
// random name, and exits without deleting it when that Performer is not ready within its timeout:
// a crash-looping executor adds one Performer per restart. The admission policy of
// base/policy/leftovers.yaml makes the pod whose token created a Performer its owner, so the
// garbage collector removes the Performer with the pod. Within the pod's life, containers restart:
// among the undeclared Performers one pod made for one AVS, the newest is the current
// container's and the older ones are left over from earlier containers, so the controller deletes
// them.
//
// One exception keeps a hand-over whole: the executor also creates a second Performer for an AVS
// when it deploys a new performer version, and moves to it once it is ready. An older Performer
// that is Ready is kept while the newest is not Ready yet, the newest Ready one only.

// eventLeftoverDeleted is the reason of the event on the Performer kept, naming the one deleted.
const eventLeftoverDeleted = "LeftoverDeleted"

// creatorPod is the owner reference to the pod that created p, nil when it has none.
func creatorPod(p *v1alpha1.Performer) *metav1.OwnerReference {
	for i := range p.OwnerReferences {
		ref := &p.OwnerReferences[i]
		if ref.APIVersion == "v1" && ref.Kind == "Pod" && ref.UID != "" {
			return ref
		}
	}
	return nil
}

// leftovers sorts the undeclared Performers that pod made for p's AVS, newest first, and returns
// the newest and the ones to delete. Performers being deleted count for nothing.
func leftovers(pod *metav1.OwnerReference, sameAVS []v1alpha1.Performer) (newest *v1alpha1.Performer, remove []*v1alpha1.Performer) {
	var mine []*v1alpha1.Performer
	for i := range sameAVS {
		c := &sameAVS[i]
		if c.Declared() || !c.DeletionTimestamp.IsZero() {
			continue
		}
		if ref := creatorPod(c); ref != nil && ref.UID == pod.UID {
			mine = append(mine, c)
		}
	}
	if len(mine) == 0 {
		return nil, nil
	}
	// Creation times have a resolution of a second; a crash loop restarts its container tens of
	// seconds apart at least. The name orders the rest, so every reconcile picks the same one.
	sort.Slice(mine, func(i, j int) bool {
		a, b := mine[i].CreationTimestamp, mine[j].CreationTimestamp
		if !a.Equal(&b) {
			return b.Before(&a)
		}
		return mine[i].Name > mine[j].Name
	})
	newest = mine[0]
	handOver := !readyNow(newest)
	for _, c := range mine[1:] {
		if handOver && readyNow(c) {
			handOver = false
			continue
		}
		remove = append(remove, c)
	}
	return newest, remove
}

// readyNow tells whether the controller last reported p Ready for its current spec.
func readyNow(p *v1alpha1.Performer) bool {
	return p.Status.Ready && p.Status.ObservedGeneration == p.Generation
}

// removeLeftovers deletes the Performers left over by earlier containers of the pod that created
// p (see above). It returns true when p itself was one of them: there is nothing more to reconcile.
func (r *Reconciler) removeLeftovers(ctx context.Context, p *v1alpha1.Performer) (bool, error) {
	if p.Declared() || !p.DeletionTimestamp.IsZero() {
		return false, nil
	}
	pod := creatorPod(p)
	if pod == nil {
		return false, nil
	}
	same, err := r.ofAVS(ctx, p, false)
	if err != nil {
		return false, err
	}
	newest, remove := leftovers(pod, same)
	self := false
	var errs []string
	for _, old := range remove {
		uid := old.UID
		err := r.Delete(ctx, old.DeepCopy(), client.Preconditions{UID: &uid}, client.PropagationPolicy(metav1.DeletePropagationBackground))
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			// Deleted meanwhile, by another reconcile or the executor itself, or replaced.
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Sprintf("deleting Performer %s/%s: %v", old.Namespace, old.Name, err))
			continue
		}
		self = self || old.UID == p.UID
		ctrl.LoggerFrom(ctx).Info("deleted a Performer left over by an earlier start of its executor",
			"deleted", old.Name, "kept", newest.Name, "pod", pod.Name, "avs", p.Spec.AVSAddress)
		if r.Recorder != nil {
			r.Recorder.Eventf(newest, old, corev1.EventTypeNormal, eventLeftoverDeleted, "Delete",
				"deleted Performer %s, left over by an earlier start of pod %s for AVS %s: this Performer, "+
					"created by the same pod later, replaces it", old.Name, pod.Name, p.Spec.AVSAddress)
		}
	}
	if len(errs) > 0 {
		return self, fmt.Errorf("removing Performers left over by pod %s: %s", pod.Name, strings.Join(errs, "; "))
	}
	return self, nil
}

// handOverDone maps a Performer that a pod made to the newest of that pod's Performers for its
// AVS when some of them are to be deleted: a hand-over keeps an older Ready one until the newest
// is Ready, and the newest becoming Ready is a status change, which reconciles nothing by itself.
func (r *Reconciler) handOverDone(ctx context.Context, o client.Object) []reconcile.Request {
	p, ok := o.(*v1alpha1.Performer)
	if !ok || p.Declared() || p.Spec.AVSAddress == "" {
		return nil
	}
	pod := creatorPod(p)
	if pod == nil {
		return nil
	}
	same, err := r.ofAVS(ctx, p, false)
	if err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "cannot find the other Performers of the pod that made a Performer", "performer", p.Name)
		return nil
	}
	newest, remove := leftovers(pod, same)
	if len(remove) == 0 {
		return nil
	}
	return []reconcile.Request{{NamespacedName: client.ObjectKeyFromObject(newest)}}
}

package performer

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/hourglass-gitops/hourglass-gitops/api/v1alpha1"
	"github.com/hourglass-gitops/hourglass-gitops/controller/workload"
)

// applyWorkload applies the Deployment and the Service at once: the API server takes several
// times longer to create a Service (it allocates a cluster IP) than a Deployment, and the
// Deployment's rollout need not wait for it. live is the workload as foreignWorkload found it. It
// returns the Deployment as the API server has it now and whether an existing Deployment got a
// new image.
func (r *Reconciler) applyWorkload(ctx context.Context, p *v1alpha1.Performer, live liveWorkload) (*appsv1.Deployment, bool, error) {
	desired, err := workload.Deployment(p)
	if err != nil {
		return nil, false, err
	}
	var dep, before *appsv1.Deployment
	err = both(func() (err error) {
		dep, before, err = applyOwned(ctx, r.Client, &r.same, desired, live.dep, deploymentUnchanged)
		return err
	}, func() error {
		_, _, err := applyOwned(ctx, r.Client, &r.same, workload.Service(p), live.svc, serviceUnchanged)
		return err
	})
	if err != nil && hasOtherThan(err, errNotCached) {
		return nil, false, err
	}
	// With errNotCached alone, what was found is returned with it: a Deployment created a moment
	// ago (dep nil) has not rolled out, and the caller looks again once the caches hold it.
	imageChanged := before != nil && dep != before && containerImage(&before.Spec.Template.Spec) != p.Image()
	return dep, imageChanged, err
}

// both runs f and g at the same time and returns their errors.
func both(f, g func() error) error {
	var (
		wg   sync.WaitGroup
		errF error
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		errF = f()
	}()
	errG := g()
	wg.Wait()
	// errors.Join keeps each error reachable to errors.As, which apierrors.IsInvalid uses.
	return errors.Join(errF, errG)
}

// deleteWorkload deletes the Deployment and Service of a Performer that is gone. The garbage
// collector would delete them too, but one step later: it first has to notice the Performer's
// deletion and then works through every dependent of every deleted owner at its own pace, so a
// burst of deletions took half again as long as deleting the workloads directly. Only objects
// whose controller was a Performer of this name are deleted; a workload the garbage collector is
// orphaning has lost that owner reference, or changed since the cache saw it.
func (r *Reconciler) deleteWorkload(ctx context.Context, key types.NamespacedName) error {
	name := types.NamespacedName{Namespace: key.Namespace, Name: v1alpha1.WorkloadName(key.Name)}
	r.same.forget(name)
	_, err := r.deleteControlled(ctx, name, func(ref *metav1.OwnerReference) bool {
		gv, err := schema.ParseGroupVersion(ref.APIVersion)
		return err == nil && gv.Group == v1alpha1.GroupVersion.Group && ref.Kind == v1alpha1.PerformerKind && ref.Name == key.Name
	})
	return err
}

// deleteControlled deletes the Deployment and the Service named key, at once, where their
// controller reference is one that controls accepts. It deletes them as the cache last saw them
// (UID and resourceVersion preconditions): an object that changed meanwhile is looked at again
// when its watch event arrives. It returns the kinds it deleted.
func (r *Reconciler) deleteControlled(ctx context.Context, key types.NamespacedName, controls func(*metav1.OwnerReference) bool) ([]string, error) {
	objs := [...]client.Object{&appsv1.Deployment{}, &corev1.Service{}}
	kinds := [...]string{"Deployment", "Service"}
	var deleted [len(objs)]bool
	del := func(i int) error {
		obj := objs[i]
		if err := r.Get(ctx, key, obj); err != nil {
			return client.IgnoreNotFound(err)
		}
		ref := metav1.GetControllerOf(obj)
		if ref == nil || !controls(ref) || !obj.GetDeletionTimestamp().IsZero() {
			return nil
		}
		uid, rv := obj.GetUID(), obj.GetResourceVersion()
		err := r.Delete(ctx, obj, client.Preconditions{UID: &uid, ResourceVersion: &rv},
			client.PropagationPolicy(metav1.DeletePropagationBackground))
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("deleting %s %s: %w", kinds[i], key, err)
		}
		deleted[i] = true
		return nil
	}
	err := both(func() error { return del(0) }, func() error { return del(1) })
	var out []string
	for i, d := range deleted {
		if d {
			out = append(out, kinds[i])
		}
	}
	return out, err
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

// applyOwned applies desired unless the controller's last apply or check of live (nil when there
// is none) says it would change nothing. It returns the object as the API server has it now and
// live; both are the same when nothing was applied.
//
// The cache holds the controller's own managed-fields entry of each object. While that entry and
// the desired configuration stay as they were at the last apply, the fields the controller owns
// keep the values it applied: another manager that changes one, by update or forced apply, takes
// it over, which changes the entry. Otherwise (the controller started since, or another manager
// took fields over) a server-side dry run tells whether an apply would change anything, and
// unchanged says whether it did.
func applyOwned[T any, PT object[T]](ctx context.Context, c client.Client, memo *sameMemo, desired applyConfiguration,
	live PT, unchanged func(live, dry PT) bool) (now, before PT, err error) {
	kind, ns, name := deref(desired.GetKind()), deref(desired.GetNamespace()), deref(desired.GetName())
	body, err := json.Marshal(desired)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding %s %s/%s: %w", kind, ns, name, err)
	}
	want := sha256.Sum256(body)
	named := func() PT {
		obj := PT(new(T))
		obj.SetNamespace(ns)
		obj.SetName(name)
		return obj
	}
	if live == nil && memo.createdJustNow(ns, name, kind, want, time.Now()) {
		// The cache has not seen the object this controller created a moment ago yet: applying
		// it again would change nothing.
		return nil, nil, errNotCached
	}
	if live != nil {
		owner := ownerPrint(live)
		last, known := memo.last(live)
		switch {
		case known && last.owner == owner && last.desired == want:
			return live, live, nil
		case known && last.owner == owner:
			// Only the desired state changed since the controller last applied it.
		default:
			dry := named()
			// An error (an invalid apply after a hand edit, say) is left for the apply to meet.
			if err := c.Patch(ctx, dry, client.RawPatch(types.ApplyPatchType, body),
				client.FieldOwner(FieldManager), client.ForceOwnership, client.DryRunAll); err == nil && unchanged(live, dry) {
				memo.remember(live, applied{owner: owner, desired: want})
				return live, live, nil
			}
		}
	}
	now = named()
	// A patch rather than client.Apply: the answer it decodes holds the managed fields.
	apply := func() error {
		return c.Patch(ctx, now, client.RawPatch(types.ApplyPatchType, body), client.FieldOwner(FieldManager), client.ForceOwnership)
	}
	err = apply()
	if apierrors.IsInvalid(err) && live != nil {
		// A hand edit of a list entry's key (a Service's port number, a container port) leaves the
		// edited entry in place, and the apply adds the controller's entry beside it: two entries
		// of one name, which the API server refuses. Put the spec back as desired, lists whole,
		// then apply again to own it.
		if perr := replaceSpec(ctx, c, live, body); perr != nil {
			return nil, nil, fmt.Errorf("applying %s %s/%s: %w; restoring its spec: %v", kind, ns, name, err, perr)
		}
		ctrl.LoggerFrom(ctx).Info("restored a hand-edited spec", "kind", kind, "name", name)
		err = apply()
	}
	if err != nil {
		return nil, nil, fmt.Errorf("applying %s %s/%s: %w", kind, ns, name, err)
	}
	memo.remember(now, applied{owner: ownerPrint(now), desired: want})
	if live == nil {
		memo.created(ns, name, kind, want, time.Now())
	}
	ctrl.LoggerFrom(ctx).V(1).Info("applied "+kind, "name", name, "created", live == nil, "generation", now.GetGeneration())
	return now, live, nil
}

// deploymentUnchanged tells whether dry, a Deployment as an apply would leave it, is live as the
// cache holds it: the cache keeps no spec (trimDeployment), but a change of the spec or the
// annotations bumps a Deployment's generation.
func deploymentUnchanged(live, dry *appsv1.Deployment) bool {
	return dry.Generation == live.Generation && metaUnchanged(live, dry)
}

// serviceUnchanged tells whether dry, a Service as an apply would leave it, is live.
func serviceUnchanged(live, dry *corev1.Service) bool {
	return equality.Semantic.DeepEqual(live.Spec, dry.Spec) && maps.Equal(live.Annotations, dry.Annotations) && metaUnchanged(live, dry)
}

// metaUnchanged compares what an apply of the controller can change in the metadata of every kind:
// the labels, the owner references and the controller's managed-fields entry, which records the
// time of every apply that changed the object.
func metaUnchanged(live, dry client.Object) bool {
	return maps.Equal(live.GetLabels(), dry.GetLabels()) &&
		equality.Semantic.DeepEqual(live.GetOwnerReferences(), dry.GetOwnerReferences()) &&
		ownerPrint(live) == ownerPrint(dry)
}

// replaceSpec sets the spec of live to the desired one with a JSON merge patch, which replaces
// lists whole where server-side apply merges them by key.
func replaceSpec(ctx context.Context, c client.Client, live client.Object, desired []byte) error {
	var obj struct {
		Spec json.RawMessage `json:"spec"`
	}
	if err := json.Unmarshal(desired, &obj); err != nil {
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

// sameMemo remembers, per object, what the controller last applied, or last found an apply would
// not change. Without it, every reconcile (and every status change of a Deployment or its pods
// reconciles) would have to ask the API server.
type sameMemo struct {
	mu sync.Mutex
	m  map[types.NamespacedName]memoEntry // by workload name: the Deployment and Service share it
}

type memoEntry struct {
	deployment, service applied
	// When the controller last created each, and from what.
	deploymentCreated, serviceCreated creation
}

// creation is a create by the controller's apply.
type creation struct {
	at      time.Time
	desired [sha256.Size]byte
}

// cacheGrace is how long after creating an object the controller takes its absence from the cache
// for the cache being behind, rather than for the object being gone.
const cacheGrace = 2 * time.Second

// errNotCached says an object the controller created a moment ago is not in the cache yet.
var errNotCached = errors.New("not in the cache yet")

func (e *memoEntry) creation(kind string) *creation {
	if kind == "Service" {
		return &e.serviceCreated
	}
	return &e.deploymentCreated
}

// created records that the controller created the object of kind named ns/name from desired.
func (m *sameMemo) created(ns, name, kind string, desired [sha256.Size]byte, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil {
		m.m = map[types.NamespacedName]memoEntry{}
	}
	key := types.NamespacedName{Namespace: ns, Name: name}
	e := m.m[key]
	*e.creation(kind) = creation{at: now, desired: desired}
	m.m[key] = e
}

// createdJustNow tells whether the controller created that object from desired less than
// cacheGrace ago.
func (m *sameMemo) createdJustNow(ns, name, kind string, desired [sha256.Size]byte, now time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.m[types.NamespacedName{Namespace: ns, Name: name}]
	if !ok {
		return false
	}
	c := e.creation(kind)
	return c.desired == desired && now.Sub(c.at) < cacheGrace
}

// applied is an apply of the controller: the object's owner print after it, and the sum of the
// apply configuration.
type applied struct {
	owner, desired [sha256.Size]byte
}

// slot picks the entry's field for obj's kind.
func (e *memoEntry) slot(obj client.Object) *applied {
	if _, ok := obj.(*corev1.Service); ok {
		return &e.service
	}
	return &e.deployment
}

func (m *sameMemo) last(obj client.Object) (applied, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.m[client.ObjectKeyFromObject(obj)]
	if !ok {
		return applied{}, false
	}
	a := *e.slot(obj)
	return a, a != applied{}
}

func (m *sameMemo) remember(obj client.Object, a applied) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil {
		m.m = map[types.NamespacedName]memoEntry{}
	}
	key := client.ObjectKeyFromObject(obj)
	e := m.m[key]
	*e.slot(obj) = a
	m.m[key] = e
}

// forget drops what is remembered of a workload, once its Performer is gone.
func (m *sameMemo) forget(workload types.NamespacedName) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.m, workload)
}

// ownerPrint sums the object's UID and the controller's managed-fields entry: the fields it owns
// and the time of its last apply that changed the object. It is the same for an object and its
// cached copy, which holds a digest of the field set (keepOwnManagedFields).
func ownerPrint(obj client.Object) [sha256.Size]byte {
	h := sha256.New()
	h.Write([]byte(string(obj.GetUID()) + "\x00"))
	for _, e := range obj.GetManagedFields() {
		if e.Manager != FieldManager || e.Operation != metav1.ManagedFieldsOperationApply || e.Subresource != "" {
			continue
		}
		h.Write([]byte(e.APIVersion + "\x00"))
		if e.Time != nil {
			h.Write([]byte(e.Time.UTC().String() + "\x00"))
		}
		if e.FieldsV1 != nil {
			h.Write(fieldsDigest(e.FieldsV1))
		}
		h.Write([]byte{0})
	}
	var sum [sha256.Size]byte
	copy(sum[:], h.Sum(nil))
	return sum
}

// hasOtherThan tells whether err, maybe joined from several, holds an error that is not target.
func hasOtherThan(err, target error) bool {
	if err == nil {
		return false
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			if hasOtherThan(e, target) {
				return true
			}
		}
		return false
	}
	return !errors.Is(err, target)
}

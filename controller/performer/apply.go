package performer

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/hourglass-gitops/hourglass-gitops/api/v1alpha1"
	"github.com/hourglass-gitops/hourglass-gitops/controller/workload"
)

// applyWorkload applies the Deployment and the Service at once: the API server takes several
// times longer to create a Service (it allocates a cluster IP) than a Deployment, and the
// Deployment's rollout need not wait for it. It returns the Deployment as the API server has it
// now and whether an existing Deployment got a new image.
func (r *Reconciler) applyWorkload(ctx context.Context, p *v1alpha1.Performer) (*appsv1.Deployment, bool, error) {
	desired, err := workload.Deployment(p)
	if err != nil {
		return nil, false, err
	}
	var dep, before *appsv1.Deployment
	err = both(func() (err error) {
		dep, before, err = applyOwned(ctx, r.Client, &r.same, desired, func(d *appsv1.Deployment) (any, error) {
			return appsv1ac.ExtractDeployment(d, FieldManager)
		})
		return err
	}, func() error {
		_, _, err := applyOwned(ctx, r.Client, &r.same, workload.Service(p), func(s *corev1.Service) (any, error) {
			return corev1ac.ExtractService(s, FieldManager)
		})
		return err
	})
	if err != nil {
		return nil, false, err
	}
	imageChanged := before != nil && dep != before && containerImage(&before.Spec.Template.Spec) != workload.Image(p)
	return dep, imageChanged, nil
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

// applyOwned applies desired unless the fields this controller owns on the live object already
// say the same (extract reads them). It returns the object as the API server has it now and the
// live object it found (nil when there was none); both are the same when nothing was applied.
func applyOwned[T any, PT object[T]](ctx context.Context, c client.Client, memo *sameMemo, desired applyConfiguration,
	extract func(PT) (any, error)) (now, before PT, err error) {
	kind, ns, name := deref(desired.GetKind()), deref(desired.GetNamespace()), deref(desired.GetName())
	live := PT(new(T))
	switch err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, live); {
	case apierrors.IsNotFound(err):
		live = nil
	case err != nil:
		return nil, nil, fmt.Errorf("reading %s %s/%s: %w", kind, ns, name, err)
	default:
		print, err := fingerprint(live, desired)
		if err != nil {
			return nil, nil, err
		}
		if memo.same(live, print) {
			return live, live, nil
		}
		owned, err := extract(live)
		if err != nil {
			return nil, nil, fmt.Errorf("reading the fields of %s %s/%s owned by %s: %w", kind, ns, name, FieldManager, err)
		}
		same, err := sameAs[T](desired, owned)
		if err != nil {
			return nil, nil, err
		}
		if same {
			memo.remember(live, print)
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

// sameMemo remembers, per object, the last fingerprint whose owned fields compared equal to the
// desired ones. Reading the owned fields out of the managed fields (extract) is most of the
// controller's CPU time otherwise: every status change of a Deployment or its pods reconciles.
type sameMemo struct {
	mu sync.Mutex
	m  map[types.NamespacedName]memoEntry // by workload name: the Deployment and Service share it
}

type memoEntry struct {
	deployment, service [sha256.Size]byte
}

// slot picks the entry's field for obj's kind.
func (e *memoEntry) slot(obj client.Object) *[sha256.Size]byte {
	if _, ok := obj.(*corev1.Service); ok {
		return &e.service
	}
	return &e.deployment
}

func (m *sameMemo) same(obj client.Object, print [sha256.Size]byte) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.m[client.ObjectKeyFromObject(obj)]
	return ok && *e.slot(obj) == print
}

func (m *sameMemo) remember(obj client.Object, print [sha256.Size]byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil {
		m.m = map[types.NamespacedName]memoEntry{}
	}
	key := client.ObjectKeyFromObject(obj)
	e := m.m[key]
	*e.slot(obj) = print
	m.m[key] = e
}

// forget drops what is remembered of a workload, once its Performer is gone.
func (m *sameMemo) forget(workload types.NamespacedName) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.m, workload)
}

// fingerprint sums the controller's managed-fields entry of live and the desired configuration.
// The values of the fields the controller owns cannot change while its entry stays the same:
// another manager that changes such a field, by update or by forced apply, takes it over, which
// removes it from the controller's entry, and every apply of the controller stamps the entry
// with a new time.
func fingerprint(live client.Object, desired applyConfiguration) ([sha256.Size]byte, error) {
	h := sha256.New()
	h.Write([]byte(string(live.GetUID()) + "\x00"))
	for _, e := range live.GetManagedFields() {
		if e.Manager != FieldManager || e.Operation != metav1.ManagedFieldsOperationApply || e.Subresource != "" {
			continue
		}
		h.Write([]byte(e.APIVersion + "\x00"))
		if e.Time != nil {
			h.Write([]byte(e.Time.UTC().String() + "\x00"))
		}
		if e.FieldsV1 != nil {
			h.Write(e.FieldsV1.Raw)
		}
		h.Write([]byte{0})
	}
	b, err := json.Marshal(desired)
	if err != nil {
		return [sha256.Size]byte{}, err
	}
	h.Write(b)
	var sum [sha256.Size]byte
	copy(sum[:], h.Sum(nil))
	return sum, nil
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

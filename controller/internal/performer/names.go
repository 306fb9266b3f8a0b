package performer

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The caches of Deployments and Services hold only performer workloads (CacheOptions), so a name
// missing from them may still be taken by an object someone else made. The names cache answers
// that without a request per new Performer: it watches the metadata of every Deployment and
// Service and keeps of each only its name, UID and owner references.

var (
	deploymentGVK = appsv1.SchemeGroupVersion.WithKind("Deployment")
	serviceGVK    = corev1.SchemeGroupVersion.WithKind("Service")
)

// newNamesCache makes the names cache for namespaces (none: all) and registers its two
// informers, which start with the manager's caches.
func newNamesCache(mgr ctrl.Manager, namespaces []string) (cache.Cache, error) {
	opts := cache.Options{
		HTTPClient:       mgr.GetHTTPClient(),
		Scheme:           mgr.GetScheme(),
		Mapper:           mgr.GetRESTMapper(),
		DefaultTransform: keepNameAndOwners,
	}
	if len(namespaces) > 0 {
		opts.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range namespaces {
			opts.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	c, err := cache.New(mgr.GetConfig(), opts)
	if err != nil {
		return nil, fmt.Errorf("making the cache of workload names: %w", err)
	}
	for _, gvk := range []schema.GroupVersionKind{deploymentGVK, serviceGVK} {
		if _, err := c.GetInformer(context.Background(), metadataOf(gvk)); err != nil {
			return nil, fmt.Errorf("watching the names of %s: %w", gvk.Kind, err)
		}
	}
	if err := mgr.Add(c); err != nil {
		return nil, err
	}
	return c, nil
}

func metadataOf(gvk schema.GroupVersionKind) *metav1.PartialObjectMetadata {
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(gvk)
	return m
}

// keepNameAndOwners keeps what the ownership check reads of an object's metadata.
func keepNameAndOwners(obj any) (any, error) {
	m, ok := obj.(*metav1.PartialObjectMetadata)
	if !ok {
		return obj, nil
	}
	m.ObjectMeta = metav1.ObjectMeta{
		Name: m.Name, Namespace: m.Namespace, UID: m.UID, ResourceVersion: m.ResourceVersion,
		OwnerReferences: m.OwnerReferences, DeletionTimestamp: m.DeletionTimestamp,
	}
	return m, nil
}

// nameTaken tells whether the names cache holds an object of kind gvk named key. Without a names
// cache every name counts as taken, so the caller asks the API server.
func (r *Reconciler) nameTaken(ctx context.Context, gvk schema.GroupVersionKind, key types.NamespacedName) (bool, error) {
	if r.Names == nil {
		return true, nil
	}
	err := r.Names.Get(ctx, key, metadataOf(gvk))
	if err == nil {
		return true, nil
	}
	return false, client.IgnoreNotFound(err)
}

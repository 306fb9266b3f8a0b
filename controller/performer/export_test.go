package performer

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ApplyAsRestarted applies desired as a controller that has just started would, remembering
// nothing of earlier applies, and reports whether it wrote.
func ApplyAsRestarted(ctx context.Context, c client.Client, desired any) (bool, error) {
	var memo sameMemo
	switch d := desired.(type) {
	case *appsv1ac.DeploymentApplyConfiguration:
		live := &appsv1.Deployment{}
		if err := getLive(ctx, c, *d.GetNamespace(), *d.GetName(), &live); err != nil {
			return false, err
		}
		now, before, err := applyOwned(ctx, c, &memo, d, live, deploymentUnchanged)
		return err == nil && now != before, err
	case *corev1ac.ServiceApplyConfiguration:
		live := &corev1.Service{}
		if err := getLive(ctx, c, *d.GetNamespace(), *d.GetName(), &live); err != nil {
			return false, err
		}
		now, before, err := applyOwned(ctx, c, &memo, d, live, serviceUnchanged)
		return err == nil && now != before, err
	}
	return false, fmt.Errorf("no apply for %T", desired)
}

// getLive reads *obj, or sets it to nil when there is none.
func getLive[T any, PT object[T]](ctx context.Context, c client.Client, ns, name string, obj *PT) error {
	err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, *obj)
	if apierrors.IsNotFound(err) {
		*obj = nil
		return nil
	}
	return err
}

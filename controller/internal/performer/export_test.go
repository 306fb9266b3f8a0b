package performer

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ApplyAsRestarted applies desired as a controller that has just started would, remembering
// nothing of earlier applies, and reports whether it wrote.
func ApplyAsRestarted(ctx context.Context, c client.Client, desired any) (bool, error) {
	switch d := desired.(type) {
	case *appsv1ac.DeploymentApplyConfiguration:
		return applyAsRestarted(ctx, c, d, deploymentUnchanged)
	case *corev1ac.ServiceApplyConfiguration:
		return applyAsRestarted(ctx, c, d, serviceUnchanged)
	}
	return false, fmt.Errorf("no apply for %T", desired)
}

// applyAsRestarted reads the live object, nil when there is none, and applies desired with an
// empty memory.
func applyAsRestarted[T any, PT object[T]](ctx context.Context, c client.Client, desired applyConfiguration, unchanged func(live, dry PT) bool) (bool, error) {
	live := PT(new(T))
	err := c.Get(ctx, types.NamespacedName{Namespace: deref(desired.GetNamespace()), Name: deref(desired.GetName())}, live)
	switch {
	case apierrors.IsNotFound(err):
		live = nil
	case err != nil:
		return false, err
	}
	var memo sameMemo
	now, before, err := applyOwned(ctx, c, &memo, desired, live, unchanged)
	return err == nil && now != before, err
}

package performer

import (
	"context"
	"fmt"

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
		now, before, err := applyOwned(ctx, c, &memo, d, deploymentUnchanged)
		return err == nil && now != before, err
	case *corev1ac.ServiceApplyConfiguration:
		now, before, err := applyOwned(ctx, c, &memo, d, serviceUnchanged)
		return err == nil && now != before, err
	}
	return false, fmt.Errorf("no apply for %T", desired)
}

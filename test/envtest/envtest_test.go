package envtest

import (
	"context"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/hourglass-gitops/hourglass-gitops/api/v1alpha1"
)

// The environment serves the Performer CRD with its schema: a valid Performer passes a
// server-side dry run and gets its defaults, an invalid one is rejected.
func TestStartServesPerformerCRD(t *testing.T) {
	env := Start(t)
	ns := env.Namespace(t)
	ctx := context.Background()

	p := &v1alpha1.Performer{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: ns},
		Spec: v1alpha1.PerformerSpec{
			AVSAddress: "0x1234567890abcdef1234567890abcdef12345678",
			Image:      "example.com/performer:v1",
		},
	}
	if err := env.Client.Create(ctx, p, client.DryRunAll); err != nil {
		t.Fatalf("dry-run create: %v", err)
	}
	if p.Spec.Config.GRPCPort != 9090 {
		t.Errorf("grpcPort after dry run = %d, want the CRD default 9090", p.Spec.Config.GRPCPort)
	}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(p), &v1alpha1.Performer{}); !apierrors.IsNotFound(err) {
		t.Errorf("a dry run must not create the Performer, Get returned %v", err)
	}

	bad := p.DeepCopy()
	bad.Spec.AVSAddress = "0x12"
	err := env.Client.Create(ctx, bad, client.DryRunAll)
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.avsAddress") {
		t.Errorf("dry-run create with a bad avsAddress: got %v, want an Invalid error naming spec.avsAddress", err)
	}
	if len(env.KubeConfig) == 0 {
		t.Error("KubeConfig is empty")
	}
}

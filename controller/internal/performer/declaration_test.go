package performer_test

import (
	"context"
	"strings"
	"testing"

	"github.com/fluxcd/pkg/apis/meta"
	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/hourglass-gitops/hourglass-gitops/api/v1alpha1"
	"github.com/hourglass-gitops/hourglass-gitops/test/envtest"
)

// A Performer written by hand in Git, without the AVSExecutor function, is declared by the
// annotation alone. With the admission policy of base/policy installed, Flux's
// kustomize-controller applies it and it gets its workload; the executor's own Performer of the
// same AVS binds to it; the executor's ServiceAccount cannot declare one of its own.
func TestHandWrittenDeclarationAppliedByFlux(t *testing.T) {
	ctx := context.Background()
	policy, err := envtest.DeclarationPolicy()
	if err != nil {
		t.Fatal(err)
	}
	env.EnforceDeclarationPolicy(t, policy)

	ns := env.Namespace(t)
	const executorSA = "my-avs-executor"
	for _, sa := range [][2]string{{"flux-system", "kustomize-controller"}, {ns, executorSA}} {
		if err := env.AllowPerformers(ctx, ns, sa[0], sa[1]); err != nil {
			t.Fatal(err)
		}
	}
	flux, err := env.ServiceAccountClient("flux-system", "kustomize-controller")
	if err != nil {
		t.Fatal(err)
	}
	executor, err := env.ServiceAccountClient(ns, executorSA)
	if err != nil {
		t.Fatal(err)
	}

	hand := newPerformer(ns, "hand-written", func(p *v1alpha1.Performer) {
		p.Annotations = map[string]string{v1alpha1.DeclarationAnnotation: "flux-system/avs-performers"}
		p.Spec.Config.GRPCPort = 8080
	})
	if err := flux.Create(ctx, hand); err != nil {
		t.Fatalf("Flux applying a hand-written declared Performer: %v", err)
	}
	waitDeployment(t, hand, "the hand-written Performer's Deployment", func(*appsv1.Deployment) bool { return true })

	e := executorMade(ns, "performer-1a2b3c-bbbbcccc", "v1.0.0")
	if err := executor.Create(ctx, e); err != nil {
		t.Fatalf("the executor creating its own Performer: %v", err)
	}
	waitPerformer(t, e, "bound to the hand-written Performer", isBound("hand-written"))
	noWorkload(t, e)

	twin := executorMade(ns, "performer-1a2b3c-ddddeeee", "v1.0.0")
	twin.Annotations = map[string]string{v1alpha1.DeclarationAnnotation: ns + "/my-executor"}
	err = executor.Create(ctx, twin)
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "only Git declares Performers") {
		t.Errorf("the executor declaring a Performer of its own: %v, want refused by the declaration policy", err)
	}
}

// A Performer that exists undeclared (one the upstream operator ran, say) gets its workload as
// soon as it is annotated as declared: annotations do not bump the generation, so the controller
// must watch the annotation itself.
func TestDeclaringAnExistingPerformer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ns := env.Namespace(t)
	p := executorMade(ns, "performer-9f8e7d-0a0b0c0d", "v1.0.0")
	if err := k.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	waitPerformer(t, p, "NotDeclared", func(p *v1alpha1.Performer) bool {
		c := condition(p, meta.ReadyCondition)
		return c != nil && c.Reason == v1alpha1.NotDeclaredReason
	})
	noWorkload(t, p)
	patch := client.MergeFrom(p.DeepCopy())
	p.Annotations = map[string]string{v1alpha1.DeclarationAnnotation: ns + "/" + p.Name}
	if err := k.Patch(ctx, p, patch); err != nil {
		t.Fatal(err)
	}
	waitDeployment(t, p, "the Deployment of the Performer declared by annotation", func(*appsv1.Deployment) bool { return true })
}

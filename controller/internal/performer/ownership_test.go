package performer_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/hourglass-gitops/hourglass-gitops/api/v1alpha1"
)

// A Service of the workload's name that someone else made, without the performer labels (so
// absent from the controller's caches), is left alone: no takeover, no new selector.
func TestForeignServiceIsNotTakenOver(t *testing.T) {
	t.Parallel()
	ns := env.Namespace(t)
	theirs := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "performer-taken", Namespace: ns},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "web"},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}
	create(t, theirs)
	p := newPerformer(ns, "taken")
	create(t, p)

	got := waitPerformer(t, p, "Stalled", isStalled(v1alpha1.WorkloadNotOwnedReason))
	c := condition(got, meta.StalledCondition)
	for _, s := range []string{"Service " + ns + "/performer-taken", "no controller", "delete it"} {
		if !strings.Contains(c.Message, s) {
			t.Errorf("Stalled message %q does not say %q", c.Message, s)
		}
	}
	wantKstatus(t, got, status.FailedStatus)
	waitEvent(t, p, corev1.EventTypeWarning, v1alpha1.WorkloadNotOwnedReason)

	time.Sleep(300 * time.Millisecond)
	var svc corev1.Service
	get(t, key(theirs), &svc)
	if diff := cmp.Diff(map[string]string{"app": "web"}, svc.Spec.Selector); diff != "" {
		t.Errorf("the foreign Service's selector changed (-want +got):\n%s", diff)
	}
	if len(svc.OwnerReferences) > 0 || len(svc.Labels) > 0 {
		t.Errorf("the foreign Service was changed: owners %v labels %v", svc.OwnerReferences, svc.Labels)
	}
	// Nothing half-done: no Deployment either.
	if err := k.Get(context.Background(), workloadKey(p), &appsv1.Deployment{}); !apierrors.IsNotFound(err) {
		t.Errorf("a Deployment was created although the Service name is taken (Get: %v)", err)
	}

	// The Service goes; the next reconcile (here requested, otherwise within a minute) creates the workload.
	if err := k.Delete(context.Background(), &svc); err != nil {
		t.Fatal(err)
	}
	p = getPerformer(t, p)
	patch := client.MergeFrom(p.DeepCopy())
	p.Annotations[meta.ReconcileRequestAnnotation] = "now"
	if err := k.Patch(context.Background(), p, patch); err != nil {
		t.Fatal(err)
	}
	waitDeployment(t, p, "the Deployment", func(*appsv1.Deployment) bool { return true })
	waitPerformer(t, p, "no longer stalled", func(p *v1alpha1.Performer) bool { return condition(p, meta.StalledCondition) == nil })
}

// A Deployment with the performer labels that another object controls is left alone too.
func TestDeploymentOfAnotherOwnerIsNotTakenOver(t *testing.T) {
	t.Parallel()
	ns := env.Namespace(t)
	other := newPerformer(ns, "other")
	create(t, other)
	waitDeployment(t, other, "the other Performer's Deployment", func(*appsv1.Deployment) bool { return true })
	var dep appsv1.Deployment
	get(t, workloadKey(other), &dep)

	// A copy of it under the name of the next Performer, still controlled by "other".
	p := newPerformer(ns, "next")
	copyDep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "performer-next", Namespace: ns, Labels: dep.Labels, OwnerReferences: dep.OwnerReferences},
		Spec:       *dep.Spec.DeepCopy(),
	}
	create(t, copyDep)
	create(t, p)
	got := waitPerformer(t, p, "Stalled", isStalled(v1alpha1.WorkloadNotOwnedReason))
	if c := condition(got, meta.StalledCondition); !strings.Contains(c.Message, "controller Performer other") {
		t.Errorf("Stalled message %q does not name the controller", c.Message)
	}
	get(t, workloadKey(p), &dep)
	if !metav1.IsControlledBy(&dep, other) {
		t.Errorf("the Deployment changed hands: %v", dep.OwnerReferences)
	}
}

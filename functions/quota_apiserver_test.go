package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/hourglass-gitops/hourglass-gitops/test/envtest"
)

// TestPerformerQuotaBoundsTheNamespace applies what examples/basic renders with performerQuota: {}
// to a real kube-apiserver and creates Performers as an executor in a crash loop would: the rendered
// Performer and the ResourceQuota go in, then executor-made Performers until the API server
// refuses one with "exceeded quota". envtest runs no quota controller, so the test sets the
// quota's status as that controller would before admission takes over counting.
func TestPerformerQuotaBoundsTheNamespace(t *testing.T) {
	kustomize := kustomizeCLI(t)
	dir := filepath.Join(exampleTree(t), "examples", "basic")
	decl := filepath.Join(dir, "executor.yaml")
	raw, err := os.ReadFile(decl)
	if err != nil {
		t.Fatal(err)
	}
	withQuota := strings.Replace(string(raw), "\nspec:\n", "\nspec:\n  performerQuota: {}\n", 1)
	if withQuota == string(raw) {
		t.Fatal("examples/basic/executor.yaml has no spec")
	}
	if err := os.WriteFile(decl, []byte(withQuota), 0o644); err != nil {
		t.Fatal(err)
	}
	out := renderExample(t, kustomize, dir)
	var quota, performer *unstructured.Unstructured
	var ns *unstructured.Unstructured
	for _, doc := range strings.Split(string(out), "\n---\n") {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
			t.Fatal(err)
		}
		switch u.GetKind() {
		case "ResourceQuota":
			quota = u
		case "Performer":
			performer = u
		case "Namespace":
			ns = u
		}
	}
	if quota == nil || performer == nil || ns == nil {
		t.Fatalf("examples/basic renders no ResourceQuota, Performer or Namespace:\n%s", out)
	}
	if got := ns.GetLabels()["pod-security.kubernetes.io/enforce"]; got != "restricted" {
		t.Errorf("Namespace %s enforces %q, want restricted", ns.GetName(), got)
	}

	env := envtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, obj := range []*unstructured.Unstructured{ns, quota} {
		if err := env.Client.Create(ctx, obj); err != nil {
			t.Fatalf("%s %s: %v", obj.GetKind(), obj.GetName(), err)
		}
	}
	var q corev1.ResourceQuota
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(quota), &q); err != nil {
		t.Fatal(err)
	}
	const counted = "count/performers.hourglass.eigenlayer.io"
	limit := q.Spec.Hard[counted]
	if limit.Value() != 3 {
		t.Errorf("the quota of examples/basic (1 AVS, 1 replica) is %s, want 3", limit.String())
	}
	q.Status = corev1.ResourceQuotaStatus{Hard: q.Spec.Hard, Used: corev1.ResourceList{counted: resource.MustParse("0")}}
	if err := env.Client.Status().Update(ctx, &q); err != nil {
		t.Fatal(err)
	}

	if err := env.Client.Create(ctx, performer); err != nil {
		t.Fatalf("the rendered Performer: %v", err)
	}
	created := 1
	for i := 0; i < 10; i++ {
		p := performer.DeepCopy()
		p.SetResourceVersion("")
		p.SetName(fmt.Sprintf("performer-abcdef-%08d", i)) // as the executor names its own
		p.SetAnnotations(nil)
		err := env.Client.Create(ctx, p)
		if apierrors.IsForbidden(err) && strings.Contains(err.Error(), "exceeded quota") {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		created++
	}
	if created != int(limit.Value()) {
		t.Errorf("the API server admitted %d Performers, want the quota's %d", created, limit.Value())
	}
	t.Logf("admitted %d Performers, refused the next with exceeded quota", created)
}

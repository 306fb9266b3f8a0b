package security

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/hourglass-gitops/hourglass-gitops/api/v1alpha1"
	"github.com/hourglass-gitops/hourglass-gitops/test/envtest"
	"github.com/hourglass-gitops/hourglass-gitops/test/framework/repo"
)

// declarationPolicyOf picks the admission policy, its binding and its ConfigMap from a build of
// base/.
func declarationPolicyOf(objs []*unstructured.Unstructured) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		switch {
		case strings.HasPrefix(o.GetKind(), "ValidatingAdmissionPolicy"),
			o.GetKind() == "ConfigMap" && o.GetName() == envtest.DeclarersConfigMap:
			out = append(out, o)
		}
	}
	return out
}

// TestOnlyGitDeclares installs the admission policy of base/ (kustomize build, as kubectl apply -k
// base does) and writes Performers, declared in Git and not, as the identities that write them:
// the executor's ServiceAccount (it may create and delete Performers in its namespace), a tenant
// ServiceAccount a GitOps engine applies as (listed in the policy's ConfigMap), Flux's
// kustomize-controller and Argo CD's application-controller. RBAC allows them all every verb on
// Performers in the namespace, so what refuses a request is the policy.
func TestOnlyGitDeclares(t *testing.T) {
	ctx := context.Background()
	policy := declarationPolicyOf(kustomizeBuild(t, filepath.Join(repo.RootFor(t), "base"), false))
	if len(policy) != 3 {
		t.Fatalf("base/ has %d objects of the declaration policy, want the policy, its binding and its ConfigMap", len(policy))
	}
	for _, o := range policy {
		if o.GetKind() != "ConfigMap" && o.GetNamespace() != "" {
			t.Errorf("%s %s has namespace %q: it is cluster-scoped", o.GetKind(), o.GetName(), o.GetNamespace())
		}
	}
	env.EnforceDeclarationPolicy(t, policy)

	ns := env.Namespace(t)
	type identity struct{ name, ns, sa string }
	var (
		executor = identity{"executor", ns, "my-avs-executor"}
		tenant   = identity{"tenant", ns, "flux-tenant"}
		flux     = identity{"flux", "flux-system", "kustomize-controller"}
		argocd   = identity{"argocd", "argocd", "argocd-application-controller"}
	)
	clients := map[string]client.Client{}
	for _, id := range []identity{executor, tenant, flux, argocd} {
		if err := env.AllowPerformers(ctx, ns, id.ns, id.sa); err != nil {
			t.Fatal(err)
		}
		c, err := env.ServiceAccountClient(id.ns, id.sa)
		if err != nil {
			t.Fatal(err)
		}
		clients[id.name] = c
	}

	// The tenant ServiceAccount is added as the ConfigMap's comment says; the API server reads
	// parameters through an informer, so the change counts a moment later.
	cm := &corev1.ConfigMap{}
	if err := env.Client.Get(ctx, types.NamespacedName{Namespace: envtest.PolicyNamespace, Name: envtest.DeclarersConfigMap}, cm); err != nil {
		t.Fatal(err)
	}
	cm.Data = map[string]string{"serviceAccounts": "# tenants\n\n  other-ns/flux-tenant\n" + tenant.ns + "/" + tenant.sa + "\n"}
	if err := env.Client.Update(ctx, cm); err != nil {
		t.Fatal(err)
	}
	waitAllowed(t, clients[tenant.name], ns)

	performer := func(name string, declared bool) *v1alpha1.Performer {
		p := &v1alpha1.Performer{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: v1alpha1.PerformerSpec{
				AVSAddress: "0x1234567890abcdef1234567890abcdef12345678",
				Image:      "registry.example.com/avs/performer", Version: "v1.0.0",
			},
		}
		if declared {
			p.Annotations = map[string]string{v1alpha1.DeclarationAnnotation: ns + "/my-executor"}
		}
		return p
	}
	// seed makes a Performer as the cluster admin, for another identity to change or delete.
	seed := func(name string, declared bool) *v1alpha1.Performer {
		p := performer(name, declared)
		if err := env.Client.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	kindOf := map[bool]string{true: "declared", false: "undeclared"}
	answer := func(err error) string {
		switch {
		case err == nil:
			return "allowed"
		case apierrors.IsForbidden(err) && strings.Contains(err.Error(), "only Git declares Performers"):
			return "denied"
		default:
			return "error: " + err.Error()
		}
	}

	got, want := map[string]string{}, map[string]string{}
	var denials []string
	for _, id := range []identity{executor, tenant, flux, argocd} {
		c := clients[id.name]
		for _, declared := range []bool{true, false} {
			expect := "allowed"
			if id == executor && declared {
				expect = "denied"
			}
			base := id.name + "-" + kindOf[declared]

			err := c.Create(ctx, performer(base+"-create", declared))
			got[base+" create"], want[base+" create"] = answer(err), expect
			if err != nil {
				denials = append(denials, err.Error())
			}

			p := seed(base+"-update", declared)
			p.Spec.Version = "v2.0.0"
			got[base+" update"], want[base+" update"] = answer(c.Update(ctx, p)), expect

			p = seed(base+"-delete", declared)
			got[base+" delete"], want[base+" delete"] = answer(c.Delete(ctx, p)), expect
		}
	}

	// The executor declares a Performer it made, and takes the declaration away from one in Git.
	p := seed("executor-adds", false)
	p.Annotations = map[string]string{v1alpha1.DeclarationAnnotation: ns + "/my-executor"}
	err := clients[executor.name].Update(ctx, p)
	got["executor adds the annotation"], want["executor adds the annotation"] = answer(err), "denied"
	if err != nil {
		denials = append(denials, err.Error())
	}
	p = seed("executor-removes", true)
	p.Annotations = nil
	err = clients[executor.name].Update(ctx, p)
	got["executor removes the annotation"], want["executor removes the annotation"] = answer(err), "denied"
	if err != nil {
		denials = append(denials, err.Error())
	}
	// Changing an undeclared Performer of its own stays the executor's.
	p = seed("executor-own", false)
	p.Labels = map[string]string{"hourglass.eigenlayer.io/avs": "x"}
	got["executor labels its own"], want["executor labels its own"] = answer(clients[executor.name].Update(ctx, p)), "allowed"

	// The status subresource is not matched: the controller writes it, and RBAC, not this
	// policy, keeps the executor from it.
	p = seed("status-write", true)
	p.Status.Phase = v1alpha1.PhasePending
	got["executor writes the status of a declared one (RBAC allowing)"], want["executor writes the status of a declared one (RBAC allowing)"] =
		answer(clients[executor.name].Status().Update(ctx, p)), "allowed"

	// In kube-system the garbage collector and the namespace controller delete declared
	// Performers; another ServiceAccount of kube-system may not.
	for _, sa := range []string{"generic-garbage-collector", "namespace-controller", "some-operator"} {
		if err := env.AllowPerformers(ctx, "kube-system", "kube-system", sa); err != nil {
			t.Fatal(err)
		}
		c, err := env.ServiceAccountClient("kube-system", sa)
		if err != nil {
			t.Fatal(err)
		}
		p := performer("gc-"+sa, true)
		p.Namespace = "kube-system"
		if err := env.Client.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
		expect := "allowed"
		if sa == "some-operator" {
			expect = "denied"
		}
		got["kube-system:"+sa+" deletes a declared one in kube-system"], want["kube-system:"+sa+" deletes a declared one in kube-system"] =
			answer(c.Delete(ctx, p)), expect
	}

	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("answers (-want +got):\n%s", diff)
	}
	var b strings.Builder
	for _, k := range sortedKeys(got) {
		fmt.Fprintf(&b, "  %-8s %s\n", got[k], k)
	}
	t.Logf("declaration policy matrix:\n%s", b.String())

	// The denial names the rule and says what to do.
	if len(denials) == 0 {
		t.Fatal("no request was denied")
	}
	for _, d := range denials {
		for _, s := range []string{"only-git-declares.hourglass.eigenlayer.io", ns + "/my-avs-executor", "Declare the Performer in Git",
			"hourglass-system/hourglass-performer-declarers"} {
			if !strings.Contains(d, s) {
				t.Errorf("denial %q does not mention %q", d, s)
			}
		}
	}
	t.Logf("denial: %s", denials[0])
}

// waitAllowed waits until the tenant ServiceAccount may create a declared Performer.
func waitAllowed(t *testing.T, c client.Client, ns string) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(time.Minute)
	for i := 0; ; i++ {
		p := &v1alpha1.Performer{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("tenant-probe-%d", i), Namespace: ns,
				Annotations: map[string]string{v1alpha1.DeclarationAnnotation: ns + "/probe"}},
			Spec: v1alpha1.PerformerSpec{AVSAddress: "0x0000000000000000000000000000000000000001", Image: "probe:v1"},
		}
		err := c.Create(ctx, p)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the tenant ServiceAccount is still refused a minute after it was added to the ConfigMap: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

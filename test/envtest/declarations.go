package envtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fluxcd/pkg/ssa/utils"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/hourglass-gitops/hourglass-gitops/api/v1alpha1"
	"github.com/hourglass-gitops/hourglass-gitops/test/framework/repo"
)

// PolicyNamespace is where base/ installs the controller and the ConfigMap of the admission
// policy's allowed declarers.
const PolicyNamespace = "hourglass-system"

// DeclarersConfigMap is the ConfigMap base/policy/declarers.yaml installs.
const DeclarersConfigMap = "hourglass-performer-declarers"

// DeclarationPolicy reads the admission policy that lets only Git declare Performers, its binding
// and its ConfigMap from base/policy, as kustomize would install them (the ConfigMap in
// hourglass-system).
func DeclarationPolicy() ([]*unstructured.Unstructured, error) {
	root, err := repo.Root()
	if err != nil {
		return nil, err
	}
	var out []*unstructured.Unstructured
	for _, f := range []string{"only-git-declares.yaml", "declarers.yaml"} {
		b, err := os.ReadFile(filepath.Join(root, "base", "policy", f))
		if err != nil {
			return nil, err
		}
		objs, err := utils.ReadObjects(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("decoding base/policy/%s: %w", f, err)
		}
		for _, o := range objs {
			if o.GetKind() == "ConfigMap" {
				o.SetNamespace(PolicyNamespace)
			}
		}
		out = append(out, objs...)
	}
	return out, nil
}

// ServiceAccountClient is a client that acts as the ServiceAccount ns/name, with the groups its
// token would carry, through impersonation by the cluster admin.
func (e *Env) ServiceAccountClient(ns, name string) (client.Client, error) {
	cfg := rest.CopyConfig(e.Config)
	cfg.Impersonate = rest.ImpersonationConfig{
		UserName: "system:serviceaccount:" + ns + ":" + name,
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"},
	}
	return client.New(cfg, client.Options{Scheme: e.Scheme})
}

// AllowPerformers grants the ServiceAccount saNS/sa every verb on Performers and their status in
// namespace ns, so that what refuses its requests there is admission, not RBAC.
func (e *Env) AllowPerformers(ctx context.Context, ns, saNS, sa string) error {
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "performer-editor", Namespace: ns},
		Rules: []rbacv1.PolicyRule{{
			APIGroups: []string{v1alpha1.GroupVersion.Group}, Resources: []string{"performers", "performers/status"},
			Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"},
		}},
	}
	if err := e.Client.Create(ctx, role); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "performer-editor-" + saNS + "-" + sa, Namespace: ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: sa, Namespace: saNS}},
	}
	if err := e.Client.Create(ctx, binding); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return nil
}

// EnforceDeclarationPolicy creates objs (the policy, its binding and its ConfigMap; see
// DeclarationPolicy) and waits until the API server enforces the policy: it compiles and starts
// to apply a policy asynchronously, some time after the objects exist. It probes with a
// ServiceAccount of a namespace of its own creating a declared Performer, until refused.
func (e *Env) EnforceDeclarationPolicy(t testing.TB, objs []*unstructured.Unstructured) {
	t.Helper()
	ctx := context.Background()
	for _, o := range []client.Object{&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: PolicyNamespace}}} {
		if err := e.Client.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	for _, o := range objs {
		if err := e.Client.Create(ctx, o.DeepCopy()); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("creating %s %s: %v", o.GetKind(), o.GetName(), err)
		}
	}
	probeNS := e.Namespace(t)
	if err := e.AllowPerformers(ctx, probeNS, probeNS, "probe"); err != nil {
		t.Fatal(err)
	}
	probe, err := e.ServiceAccountClient(probeNS, "probe")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for i := 0; ; i++ {
		p := &v1alpha1.Performer{
			ObjectMeta: metav1.ObjectMeta{
				Name: fmt.Sprintf("probe-%d", i), Namespace: probeNS,
				Annotations: map[string]string{v1alpha1.DeclarationAnnotation: probeNS + "/probe"},
			},
			Spec: v1alpha1.PerformerSpec{AVSAddress: "0x0000000000000000000000000000000000000001", Image: "probe:v1"},
		}
		err := probe.Create(ctx, p)
		if apierrors.IsForbidden(err) && strings.Contains(err.Error(), "only Git declares Performers") {
			t.Logf("the declaration policy is enforced %v after it was created", time.Since(start).Round(time.Millisecond))
			return
		}
		if err != nil && !errors.Is(err, context.DeadlineExceeded) && !apierrors.IsForbidden(err) {
			t.Fatalf("probing the declaration policy: %v", err)
		}
		if time.Since(start) > time.Minute {
			t.Fatalf("the API server does not enforce the declaration policy a minute after it was created (last answer: %v)", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

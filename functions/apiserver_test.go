package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/hourglass-gitops/hourglass-gitops/test/envtest"
)

// TestAPIServerAccepts sends everything the golden cases and the examples render to a real
// kube-apiserver with the Performer CRD installed, as a server-side apply in dry-run mode: every
// Performer passes the CRD's schema and CEL rules, every workload, Service, RBAC object, policy
// and ConfigMap passes the API server's own validation.
func TestAPIServerAccepts(t *testing.T) {
	rendered := map[string][]byte{}
	for _, g := range goldenCases(t) {
		if g.expected != nil {
			rendered["testdata/"+g.name] = g.expected
		}
	}
	kustomize := kustomizeCLI(t)
	root := exampleTree(t)
	for _, ex := range examples {
		rendered["examples/"+ex] = renderExample(t, kustomize, filepath.Join(root, "examples", ex))
	}

	env := envtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	names := make([]string, 0, len(rendered))
	for n := range rendered {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		objs := applied(t, rendered[name])
		t.Run(name, func(t *testing.T) {
			// Namespaces are created for real: a dry-run object needs its namespace to exist.
			for _, obj := range objs {
				u := &unstructured.Unstructured{Object: obj}
				ns := u.GetNamespace()
				if u.GetKind() == "Namespace" {
					ns = u.GetName()
				}
				ensureNamespace(ctx, t, env.Client, ns)
			}
			for key, obj := range objs {
				u := &unstructured.Unstructured{Object: obj}
				err := env.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u),
					client.FieldOwner("avs-executor-fn-test"), client.ForceOwnership, client.DryRunAll)
				if err != nil {
					t.Errorf("%s: %v", key, err)
				}
			}
		})
	}
	if len(rendered) < 20 {
		t.Fatalf("only %d renderings checked", len(rendered))
	}

	// The published schema of the function config accepts every declaration and profile the
	// function renders: install it (in a test only; it is never applied for real) and send them.
	t.Run("schema", func(t *testing.T) {
		crds, err := filepath.Glob(filepath.Join("schema", "*.yaml"))
		if err != nil || len(crds) != 2 {
			t.Fatalf("schema files: %v %v", crds, err)
		}
		for _, f := range crds {
			u := readObject(t, f)
			if err := env.Client.Create(ctx, u); err != nil {
				t.Fatal(err)
			}
			waitEstablished(ctx, t, env.Client, u.GetName())
		}
		var decls []string
		for _, g := range goldenCases(t) {
			if g.expected != nil {
				decls = append(decls, filepath.Join(g.dir, "config.yaml"))
				if g.hasInput {
					decls = append(decls, filepath.Join(g.dir, "input.yaml"))
				}
			}
		}
		for _, ex := range examples {
			more, _ := filepath.Glob(filepath.Join("..", "examples", ex, "*.yaml"))
			decls = append(decls, more...)
		}
		for _, f := range decls {
			for _, obj := range applied(t, mustRead(t, f)) {
				u := &unstructured.Unstructured{Object: obj}
				if u.GroupVersionKind().Group != "fn.hourglass.eigenlayer.io" {
					continue
				}
				if u.GetNamespace() == "" {
					u.SetNamespace("default")
				}
				ensureNamespace(ctx, t, env.Client, u.GetNamespace())
				err := env.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u),
					client.FieldOwner("avs-executor-fn-test"), client.ForceOwnership, client.DryRunAll)
				if err != nil {
					t.Errorf("%s: %s %s: %v", f, u.GetKind(), u.GetName(), err)
				}
			}
		}
	})
}

func ensureNamespace(ctx context.Context, t *testing.T, c client.Client, ns string) {
	t.Helper()
	if ns == "" {
		return
	}
	err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// applied() leaves out local-config objects, which declarations and profiles are.
	return bytes.ReplaceAll(b, []byte("config.kubernetes.io/local-config"), []byte("example.com/local-config"))
}

func readObject(t *testing.T, path string) *unstructured.Unstructured {
	t.Helper()
	n, err := yaml.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m, err := n.Map()
	if err != nil {
		t.Fatal(err)
	}
	return &unstructured.Unstructured{Object: m}
}

func waitEstablished(ctx context.Context, t *testing.T, c client.Client, name string) {
	t.Helper()
	for {
		u := &unstructured.Unstructured{}
		u.SetAPIVersion("apiextensions.k8s.io/v1")
		u.SetKind("CustomResourceDefinition")
		if err := c.Get(ctx, client.ObjectKey{Name: name}, u); err != nil {
			t.Fatal(err)
		}
		conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
		for _, c := range conds {
			if m, ok := c.(map[string]any); ok && m["type"] == "Established" && m["status"] == "True" {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("CRD %s not established", name)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

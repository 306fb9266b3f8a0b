// Package security checks, on a real kube-apiserver (RBAC authorizer and Pod Security admission
// on), what the shipped permissions allow and what the rendered and controller-made workloads may
// run as:
//
//   - rbac_test.go: a `kubectl auth can-i` matrix (SubjectAccessReview, the same authorizer call)
//     for the executor's ServiceAccount as the KRM function renders it for examples/basic, and for
//     the controller's ServiceAccount as base/ and overlays/namespaced install it.
//   - podsecurity_test.go: every example's workloads and every Performer shape the controller
//     produces are admitted in a namespace that enforces the restricted Pod Security Standard.
//   - declarations_test.go: base/'s admission policy lets only the GitOps engines write Performers
//     declared in Git: the executor's ServiceAccount, a tenant ServiceAccount on the allow list,
//     Flux's and Argo CD's controllers, impersonated, creating, changing and deleting them.
package security

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/fluxcd/pkg/ssa/utils"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/hourglass-gitops/hourglass-gitops/test/envtest"
	"github.com/hourglass-gitops/hourglass-gitops/test/framework/cluster"
	"github.com/hourglass-gitops/hourglass-gitops/test/framework/repo"
)

const fieldOwner = "security-test"

var env *envtest.Env

func TestMain(m *testing.M) { envtest.Main(m, func(e *envtest.Env) { env = e }) }

// kustomizeBuild renders a kustomization (fn: with the exec KRM function enabled).
func kustomizeBuild(t *testing.T, dir string, fn bool) []*unstructured.Unstructured {
	t.Helper()
	out, err := cluster.Build(context.Background(), repo.RootFor(t), dir, fn)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := utils.ReadObjects(bytes.NewReader(out))
	if err != nil {
		t.Fatalf("decoding the output of kustomize build %s: %v", dir, err)
	}
	return objs
}

var (
	fnOnce sync.Once
	fnErr  error
)

// renderExamples builds the KRM function once, as `make build-fn` does, and renders every example
// with the kustomize CLI.
func renderExamples(t *testing.T) []cluster.Example {
	t.Helper()
	root := repo.RootFor(t)
	fnOnce.Do(func() { fnErr = cluster.BuildFunction(context.Background(), root, os.Stderr) })
	if fnErr != nil {
		t.Fatal(fnErr)
	}
	examples, err := cluster.RenderExamples(context.Background(), root, filepath.Join(t.TempDir(), "rendered"))
	if err != nil {
		t.Fatal(err)
	}
	return examples
}

// apply server-side applies objects as the test's field owner.
func apply(t *testing.T, objs ...*unstructured.Unstructured) {
	t.Helper()
	for _, o := range objs {
		if err := env.Client.Patch(context.Background(), o.DeepCopy(), client.Apply, client.FieldOwner(fieldOwner), client.ForceOwnership); err != nil {
			t.Fatalf("applying %s: %v", utils.FmtUnstructured(o), err)
		}
	}
}

func kindIn(o *unstructured.Unstructured, kinds ...string) bool {
	for _, k := range kinds {
		if o.GetKind() == k {
			return true
		}
	}
	return false
}

var metav1CreateOptions = metav1.CreateOptions{}

func objectMeta(namespace, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: namespace, Name: name}
}

// ensureNamespace creates a namespace unless it exists.
func ensureNamespace(t *testing.T, name string, labels ...string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{}}}
	for i := 0; i+1 < len(labels); i += 2 {
		ns.Labels[labels[i]] = labels[i+1]
	}
	if err := env.Client.Create(context.Background(), ns); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
}

// Package flux runs Flux's source-controller and kustomize-controller, built from the Go module
// proxy by hack/flux-bins.sh, as local processes against the local control plane, and reads back
// what they report: the Ready condition and revisions of GitRepositories, OCIRepositories and
// Kustomizations, exactly what `flux get` and `kubectl get kustomizations` show.
package flux

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/hourglass-gitops/hourglass-gitops/test/framework/cluster"
)

// Namespace is where Flux runs and where the examples put their Flux objects.
const Namespace = "flux-system"

// FieldManager is the field manager of kustomize-controller's server-side apply.
const FieldManager = "kustomize-controller"

// The kinds this package reads.
var (
	GitRepository = schema.GroupVersionKind{Group: "source.toolkit.fluxcd.io", Version: "v1", Kind: "GitRepository"}
	OCIRepository = schema.GroupVersionKind{Group: "source.toolkit.fluxcd.io", Version: "v1", Kind: "OCIRepository"}
	Kustomization = schema.GroupVersionKind{Group: "kustomize.toolkit.fluxcd.io", Version: "v1", Kind: "Kustomization"}
)

// Controllers are the running Flux controllers.
type Controllers struct {
	Source, Kustomize *cluster.Process
}

// Install creates the flux-system namespace and applies the controllers' CRDs from binDir/crds,
// then waits until they are Established.
func Install(ctx context.Context, c *cluster.Cluster, binDir string) error {
	cl, err := client.New(c.Config, client.Options{})
	if err != nil {
		return err
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: Namespace}}
	if err := cl.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating namespace %s: %w", Namespace, err)
	}
	files, err := filepath.Glob(filepath.Join(binDir, "crds", "*.yaml"))
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("no Flux CRDs in %s", filepath.Join(binDir, "crds"))
	}
	var names []string
	for _, f := range files {
		objs, err := ReadFile(f)
		if err != nil {
			return err
		}
		if err := Apply(ctx, cl, objs...); err != nil {
			return err
		}
		for _, o := range objs {
			names = append(names, o.GetName())
		}
	}
	for _, name := range names {
		err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			crd := &unstructured.Unstructured{}
			crd.SetGroupVersionKind(schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"})
			if err := cl.Get(ctx, types.NamespacedName{Name: name}, crd); err != nil {
				return false, nil
			}
			conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
			for _, c := range conds {
				if m, _ := c.(map[string]any); m["type"] == "Established" && m["status"] == "True" {
					return true, nil
				}
			}
			return false, nil
		})
		if err != nil {
			return fmt.Errorf("CRD %s is not Established: %w", name, err)
		}
	}
	return nil
}

// Start runs source-controller and kustomize-controller from binDir as cluster admins, on
// loopback ports, with their logs in the cluster's logs/ folder and the source artifacts in
// flux-storage/. It returns once both report ready.
func Start(ctx context.Context, c *cluster.Cluster, binDir string) (*Controllers, error) {
	ports, err := cluster.FreePorts(5)
	if err != nil {
		return nil, err
	}
	storage := filepath.Join(c.Dir, "flux-storage")
	if err := os.MkdirAll(storage, 0o755); err != nil {
		return nil, err
	}
	addr := func(p int) string { return "127.0.0.1:" + strconv.Itoa(p) }
	env := []string{"KUBECONFIG=" + c.Kubeconfig, "RUNTIME_NAMESPACE=" + Namespace}
	ctrls := &Controllers{}
	ctrls.Source, err = c.Start(ctx, "source-controller", filepath.Join(binDir, "source-controller"), []string{
		"--storage-path=" + storage,
		"--storage-addr=" + addr(ports[0]),
		"--storage-adv-addr=" + addr(ports[0]),
		"--metrics-addr=" + addr(ports[1]),
		"--health-addr=" + addr(ports[2]),
		"--log-level=info",
	}, env, "http://"+addr(ports[2])+"/readyz")
	if err != nil {
		return nil, err
	}
	ctrls.Kustomize, err = c.Start(ctx, "kustomize-controller", filepath.Join(binDir, "kustomize-controller"), []string{
		"--metrics-addr=" + addr(ports[3]),
		"--health-addr=" + addr(ports[4]),
		"--no-remote-bases=true",
		// A Kustomization whose dependsOn is not Ready yet retries after this (30s by default, which
		// would make the executors wait half a minute for the operator).
		"--requeue-dependency=2s",
		"--log-level=info",
	}, env, "http://"+addr(ports[4])+"/readyz")
	if err != nil {
		ctrls.Source.Stop()
		return nil, err
	}
	return ctrls, nil
}

// Stop stops both controllers. Safe on nil.
func (f *Controllers) Stop() {
	if f == nil {
		return
	}
	f.Kustomize.Stop()
	f.Source.Stop()
}

// ReadFile decodes the objects of a multi-document YAML file.
func ReadFile(path string) ([]*unstructured.Unstructured, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	objs, err := cluster.ReadObjects(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return objs, nil
}

// Apply server-side applies objs the way `kubectl apply --server-side` does.
func Apply(ctx context.Context, cl client.Client, objs ...*unstructured.Unstructured) error {
	for _, o := range objs {
		if err := cl.Apply(ctx, client.ApplyConfigurationFromUnstructured(o), client.FieldOwner("kubectl"), client.ForceOwnership); err != nil {
			return fmt.Errorf("applying %s %s/%s: %w", o.GetKind(), o.GetNamespace(), o.GetName(), err)
		}
	}
	return nil
}

// Status is what a Flux object reports.
type Status struct {
	Kind, Namespace, Name string
	// Ready is the Ready condition's status: True, False or Unknown ("" before the first reconcile).
	Ready                   string
	Reason, Message         string
	Generation, ObservedGen int64
	// Revision is a source's artifact revision or a Kustomization's lastAppliedRevision;
	// AttemptedRevision a Kustomization's lastAttemptedRevision.
	Revision, AttemptedRevision string
	// Inventory lists a Kustomization's applied objects (<namespace>_<name>_<group>_<kind>).
	Inventory []string
	// HandledRequest is the last requestedAt token the controller acted on.
	HandledRequest string
}

// IsReady reports Ready=True for the object's current generation.
func (s Status) IsReady() bool { return s.Ready == "True" && s.ObservedGen == s.Generation }

// String shows the object's Ready condition and the revision it reports.
func (s Status) String() string {
	return fmt.Sprintf("%s %s/%s: Ready=%s %s: %s (revision %q)", s.Kind, s.Namespace, s.Name, s.Ready, s.Reason, s.Message, s.Revision)
}

// Get reads the status of a Flux object.
func Get(ctx context.Context, cl client.Client, gvk schema.GroupVersionKind, namespace, name string) (Status, error) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	s := Status{Kind: gvk.Kind, Namespace: namespace, Name: name}
	if err := cl.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, u); err != nil {
		return s, err
	}
	s.Generation = u.GetGeneration()
	s.ObservedGen, _, _ = unstructured.NestedInt64(u.Object, "status", "observedGeneration")
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == "Ready" {
			s.Ready, _ = m["status"].(string)
			s.Reason, _ = m["reason"].(string)
			s.Message, _ = m["message"].(string)
		}
	}
	if gvk == Kustomization {
		s.Revision, _, _ = unstructured.NestedString(u.Object, "status", "lastAppliedRevision")
		s.AttemptedRevision, _, _ = unstructured.NestedString(u.Object, "status", "lastAttemptedRevision")
		entries, _, _ := unstructured.NestedSlice(u.Object, "status", "inventory", "entries")
		for _, e := range entries {
			if m, ok := e.(map[string]any); ok {
				id, _ := m["id"].(string)
				s.Inventory = append(s.Inventory, id)
			}
		}
	} else {
		s.Revision, _, _ = unstructured.NestedString(u.Object, "status", "artifact", "revision")
	}
	s.HandledRequest, _, _ = unstructured.NestedString(u.Object, "status", "lastHandledReconcileAt")
	return s, nil
}

// WaitFor polls a Flux object until done accepts its status, and returns that status; on timeout
// the error carries the last status seen.
func WaitFor(ctx context.Context, cl client.Client, gvk schema.GroupVersionKind, namespace, name string, timeout time.Duration, done func(Status) bool) (Status, error) {
	var last Status
	var lastErr error
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		last, lastErr = Get(ctx, cl, gvk, namespace, name)
		return lastErr == nil && done(last), nil
	})
	if err != nil {
		if lastErr != nil {
			return last, fmt.Errorf("%s %s/%s: %v (last error: %v)", gvk.Kind, namespace, name, err, lastErr)
		}
		return last, fmt.Errorf("%v after %s; last seen: %s", err, timeout, last)
	}
	return last, nil
}

// Reconcile asks the controller for an immediate reconciliation, as `flux reconcile` does (the
// reconcile.fluxcd.io/requestedAt annotation), and returns the token to compare with
// Status.HandledRequest.
func Reconcile(ctx context.Context, cl client.Client, gvk schema.GroupVersionKind, namespace, name string) (string, error) {
	token := time.Now().Format(time.RFC3339Nano)
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	u.SetNamespace(namespace)
	u.SetName(name)
	patch := fmt.Sprintf(`{"metadata":{"annotations":{"reconcile.fluxcd.io/requestedAt":%q}}}`, token)
	if err := cl.Patch(ctx, u, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
		return "", fmt.Errorf("requesting a reconciliation of %s %s/%s: %w", gvk.Kind, namespace, name, err)
	}
	return token, nil
}

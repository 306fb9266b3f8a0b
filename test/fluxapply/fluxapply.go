// Package fluxapply applies rendered manifests the way Flux's kustomize-controller does, with the
// engine it runs (github.com/fluxcd/pkg/ssa): server-side apply in stages (CRDs, ClusterRoles and
// Namespaces first and waited for, then everything else), Flux's field manager, owner labels and
// selectors, then a kstatus wait on everything applied (a Kustomization with `wait: true`), and
// garbage collection of what a revision no longer contains (`prune: true`).
//
// The demo and the end-to-end test use it, so what they prove holds for a real Flux install.
package fluxapply

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/fluxcd/cli-utils/pkg/kstatus/polling"
	"github.com/fluxcd/cli-utils/pkg/object"
	"github.com/fluxcd/pkg/ssa"
	"github.com/fluxcd/pkg/ssa/utils"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
)

// Flux's names, so objects look exactly as a Flux Kustomization would leave them.
const (
	FieldManager = "kustomize-controller"
	ownerGroup   = "kustomize.toolkit.fluxcd.io"
)

// Applier applies one Flux-Kustomization-like set of objects.
type Applier struct {
	manager *ssa.ResourceManager
	// Name and Namespace play the role of the Flux Kustomization's: they go into the owner labels.
	Name, Namespace string
	// Interval between kstatus polls while waiting.
	Interval time.Duration
}

// New returns an Applier for the Flux Kustomization name/namespace on the cluster of cfg.
func New(cfg *rest.Config, name, namespace string) (*Applier, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = 100, 200
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, err
	}
	mapper, err := apiutil.NewDynamicRESTMapper(cfg, httpClient)
	if err != nil {
		return nil, err
	}
	c, err := client.New(cfg, client.Options{Mapper: mapper})
	if err != nil {
		return nil, err
	}
	poller := polling.NewStatusPoller(c, mapper, polling.Options{})
	m := ssa.NewResourceManager(c, poller, ssa.Owner{Field: FieldManager, Group: ownerGroup})
	m.SetConcurrency(4)
	return &Applier{manager: m, Name: name, Namespace: namespace, Interval: time.Second}, nil
}

// Client returns the client the Applier applies with.
func (a *Applier) Client() client.Client { return a.manager.Client() }

// ReadFile decodes the Kubernetes objects of a multi-document YAML file.
func ReadFile(path string) ([]*unstructured.Unstructured, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Read(bytes.NewReader(b))
}

// Read decodes the Kubernetes objects of a multi-document YAML stream.
func Read(r io.Reader) ([]*unstructured.Unstructured, error) {
	objs, err := utils.ReadObjects(r)
	if err != nil {
		return nil, fmt.Errorf("decoding manifests: %w", err)
	}
	return objs, nil
}

// options are the apply options kustomize-controller uses (without force).
func (a *Applier) options(timeout time.Duration) ssa.ApplyOptions {
	opts := ssa.DefaultApplyOptions()
	opts.ExclusionSelector = map[string]string{ownerGroup + "/reconcile": "disabled"}
	opts.IfNotPresentSelector = map[string]string{ownerGroup + "/ssa": "IfNotPresent"}
	opts.ForceSelector = map[string]string{ownerGroup + "/force": "enabled"}
	opts.WaitInterval = a.Interval
	opts.WaitTimeout = timeout
	// Flux takes over fields that kubectl left behind, so Git stays the only source of truth.
	opts.Cleanup = ssa.ApplyCleanupOptions{
		Annotations: []string{"kubectl.kubernetes.io/last-applied-configuration"},
		FieldManagers: []ssa.FieldManager{
			{Name: "kubectl", OperationType: "Apply"},
			{Name: "kubectl", OperationType: "Update"},
			{Name: "before-first-apply", OperationType: "Update"},
		},
		Exclusions: map[string]string{ownerGroup + "/ssa": "Merge"},
	}
	return opts
}

// Apply server-side applies objs in stages and returns what changed. The objects are not modified.
func (a *Applier) Apply(ctx context.Context, objs []*unstructured.Unstructured, timeout time.Duration) (*ssa.ChangeSet, error) {
	objs = deepCopy(objs)
	a.manager.SetOwnerLabels(objs, a.Name, a.Namespace)
	cs, err := a.manager.ApplyAllStaged(ctx, objs, a.options(timeout))
	if err != nil {
		return cs, fmt.Errorf("applying %s: %w", a.Name, err)
	}
	return cs, nil
}

// Wait waits until kstatus computes Current for every object (Flux's `wait: true`) and fails
// early when one is Failed.
func (a *Applier) Wait(ctx context.Context, objs []*unstructured.Unstructured, timeout time.Duration) error {
	err := a.manager.WaitForSetWithContext(ctx, object.UnstructuredSetToObjMetadataSet(objs), ssa.WaitOptions{Interval: a.Interval, Timeout: timeout, FailFast: true})
	if err != nil {
		return fmt.Errorf("waiting for %s: %w", a.Name, err)
	}
	return nil
}

// ApplyAndWait is Apply followed by Wait on the same objects.
func (a *Applier) ApplyAndWait(ctx context.Context, objs []*unstructured.Unstructured, timeout time.Duration) (*ssa.ChangeSet, error) {
	cs, err := a.Apply(ctx, objs, timeout)
	if err != nil {
		return cs, err
	}
	return cs, a.Wait(ctx, objs, timeout)
}

// Prune deletes objs the way Flux garbage-collects objects that left the source: only those that
// carry this Applier's owner labels, with background propagation, then waits until they are gone.
func (a *Applier) Prune(ctx context.Context, objs []*unstructured.Unstructured, timeout time.Duration) (*ssa.ChangeSet, error) {
	objs = deepCopy(objs)
	opts := ssa.DefaultDeleteOptions()
	opts.Inclusions = a.manager.GetOwnerLabels(a.Name, a.Namespace)
	opts.Exclusions = map[string]string{ownerGroup + "/prune": "disabled"}
	cs, err := a.manager.DeleteAll(ctx, objs, opts)
	if err != nil {
		return cs, fmt.Errorf("pruning %s: %w", a.Name, err)
	}
	if err := a.manager.WaitForSetTermination(cs, ssa.WaitOptions{Interval: a.Interval, Timeout: timeout}); err != nil {
		return cs, fmt.Errorf("waiting for the pruned objects of %s to go: %w", a.Name, err)
	}
	return cs, nil
}

func deepCopy(objs []*unstructured.Unstructured) []*unstructured.Unstructured {
	out := make([]*unstructured.Unstructured, len(objs))
	for i, o := range objs {
		out[i] = o.DeepCopy()
	}
	return out
}

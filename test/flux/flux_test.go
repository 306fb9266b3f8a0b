// Package flux proves what the real Flux does with the product, on a local control plane of its
// own: source-controller and kustomize-controller v1.9.6 (hack/flux-bins.sh) sync the Flux objects
// of examples/flux from a Git server and an OCI registry on loopback, and every check takes the
// Kustomization's own status as its oracle, as `flux get kustomizations` would show it.
//
// It runs only with HOURGLASS_E2E=1 (make test-e2e). HOURGLASS_FLUX_CLUSTER_DIR sets the state
// folder (default .local/flux-cluster); the cluster stops at the end, its logs stay there.
package flux

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	kstatus "sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/hourglass-gitops/hourglass-gitops/test/e2erun"
	"github.com/hourglass-gitops/hourglass-gitops/test/framework/cluster"
	"github.com/hourglass-gitops/hourglass-gitops/test/framework/flux"
	"github.com/hourglass-gitops/hourglass-gitops/test/framework/gitops"
)

// The declaration the checks edit: one executor, three AVSs on plain, A100 GPU and SGX nodes.
const (
	multi          = "multi-avs"
	multiNamespace = "avs-multi"
	rollAVS        = "price-feed" // its performer version changes
	gpuAVS         = "zk-prover"  // asks for a GPU no node has, then gets its A100 back
	pruneAVS       = "sealed-bid" // leaves the declaration
	controllerFM   = "hourglass-controller"
)

// examples synced from Git: the walkthrough's and the multi-AVS one.
var examples = []string{"basic", multi}

type suite struct {
	g        *gitops.Env
	revision string // last revision of the GitOps repository
}

func TestFlux(t *testing.T) {
	e2erun.Gate(t, "Flux test on a local cluster", "test-e2e", "kubectl", "git")
	r := e2erun.BeginCluster(t, "HOURGLASS_FLUX_CLUSTER_DIR", "flux-cluster", 15*time.Minute)
	root, dir, out, ctx := r.Root, r.Dir, r.Out, r.Ctx
	s := &suite{g: &gitops.Env{Root: root, Dir: dir, Out: out}}
	t.Cleanup(s.g.Stop)
	clock := e2erun.Start(t)
	phase := clock.Phase
	phase("cluster up", func() error { return s.g.ClusterUp(ctx, true) })
	phase("Flux controllers", func() error { return s.g.StartFlux(ctx) })
	phase("build the KRM function", func() error { return cluster.BuildFunction(ctx, root, out) })
	phase("Git server, operator release, GitOps repository rendered as CI does", func() (err error) {
		if err := s.g.StartGit(ctx, false); err != nil {
			return err
		}
		s.revision, err = s.g.PublishRepos(ctx, examples)
		return err
	})

	clock.Steps(ctx, []e2erun.Step{
		{Name: "operator and executors converge from an empty cluster in one go", F: s.convergeFromEmpty},
		{Name: "a resync writes nothing", F: s.noResyncWrites},
		{Name: "a server-side diff without --force-conflicts is empty", F: s.noDiff},
		{Name: "a hand edit is reverted and the controller owns none of Flux's fields", F: s.handEdit},
		{Name: "a new performer version rolls the performer before the Kustomization is Ready", F: s.roll},
		{Name: "an unschedulable performer fails the health check", F: s.unschedulable},
		{Name: "prune removes a deleted AVS's performer, Deployment and Service", F: s.prune},
		{Name: "the same manifests from an OCI artifact", F: s.oci},
	})
}

// --- helpers ---------------------------------------------------------------------------------

func (s *suite) kustomization(ctx context.Context, t *testing.T) flux.Status {
	t.Helper()
	st, err := flux.Get(ctx, s.g.Client, flux.Kustomization, flux.Namespace, gitops.ExecutorsKustomization)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// commit renders the GitOps repository as CI does, commits it and asks Flux to fetch it.
func (s *suite) commit(ctx context.Context, t *testing.T, message string) {
	t.Helper()
	if _, err := s.g.Executors.Render(ctx); err != nil {
		t.Fatal(err)
	}
	rev, err := s.g.Sync(ctx, message)
	if err != nil {
		t.Fatal(err)
	}
	s.revision = rev
}

func (s *suite) editAVS(t *testing.T, avs string, edit func(m map[string]any)) {
	t.Helper()
	err := s.g.Executors.EditDeclaration(multi, func(decl *unstructured.Unstructured) error {
		m, save, err := gitops.SupportedAVS(decl, avs)
		if err != nil {
			return err
		}
		edit(m)
		return save()
	})
	if err != nil {
		t.Fatal(err)
	}
}

// renderedPerformer returns the name of the Performer the current rendering makes for avs.
func (s *suite) renderedPerformer(t *testing.T, avs string) *unstructured.Unstructured {
	t.Helper()
	objs, err := cluster.ReadObjectsFile(s.g.Executors.RenderedFile(multi))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range objs {
		if o.GetKind() != "Performer" {
			continue
		}
		if strings.Contains(o.GetName(), avs) {
			return o
		}
		names = append(names, o.GetName())
	}
	t.Fatalf("the rendering of %s has no Performer for AVS %s (it has %v)", multi, avs, names)
	return nil
}

func (s *suite) performer(ctx context.Context, namespace, name string) (*unstructured.Unstructured, error) {
	p := &unstructured.Unstructured{}
	p.SetGroupVersionKind(schema.GroupVersionKind{Group: "hourglass.eigenlayer.io", Version: "v1alpha1", Kind: "Performer"})
	err := s.g.Client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, p)
	return p, err
}

// performerReady: Ready=True for the current generation, with the phase.
func performerReady(p *unstructured.Unstructured) (bool, string) {
	observed, _, _ := unstructured.NestedInt64(p.Object, "status", "observedGeneration")
	phase, _, _ := unstructured.NestedString(p.Object, "status", "phase")
	conds, _, _ := unstructured.NestedSlice(p.Object, "status", "conditions")
	ready := "none"
	for _, c := range conds {
		if m, _ := c.(map[string]any); m["type"] == "Ready" {
			ready = fmt.Sprintf("%v", m["status"])
		}
	}
	return ready == "True" && observed == p.GetGeneration(), fmt.Sprintf("phase %s, Ready=%s, observedGeneration %d of %d", phase, ready, observed, p.GetGeneration())
}

// inventory returns the objects the Kustomization applied, read back from the cluster.
func (s *suite) inventory(ctx context.Context, t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	st := s.kustomization(ctx, t)
	if len(st.Inventory) == 0 {
		t.Fatalf("the Kustomization has no inventory: %s", st)
	}
	var out []*unstructured.Unstructured
	for _, id := range st.Inventory {
		// <namespace>_<name>_<group>_<kind>, with the colons of a name written as "__".
		f := strings.Split(id, "_")
		if len(f) < 4 {
			t.Fatalf("inventory entry %q", id)
		}
		n := len(f)
		f = []string{f[0], strings.ReplaceAll(strings.Join(f[1:n-2], "_"), "__", ":"), f[n-2], f[n-1]}
		u := &unstructured.Unstructured{}
		mapping, err := s.g.Client.RESTMapper().RESTMappings(schema.GroupKind{Group: f[2], Kind: f[3]})
		if err != nil || len(mapping) == 0 {
			t.Fatalf("inventory entry %q: %v", id, err)
		}
		u.SetGroupVersionKind(mapping[0].GroupVersionKind)
		if err := s.g.Client.Get(ctx, types.NamespacedName{Namespace: f[0], Name: f[1]}, u); err != nil {
			t.Fatalf("inventory entry %q: %v", id, err)
		}
		out = append(out, u)
	}
	return out
}

func key(u *unstructured.Unstructured) string {
	return fmt.Sprintf("%s/%s/%s", u.GetKind(), u.GetNamespace(), u.GetName())
}

// fieldsBy returns the fields each manager owns in an object (all operations, all subresources).
func fieldsBy(t *testing.T, u *unstructured.Unstructured) map[string]*fieldpath.Set {
	t.Helper()
	out := map[string]*fieldpath.Set{}
	for _, mf := range u.GetManagedFields() {
		if mf.FieldsV1 == nil {
			continue
		}
		set := &fieldpath.Set{}
		if err := set.FromJSON(bytes.NewReader(mf.FieldsV1.Raw)); err != nil {
			t.Fatalf("%s: managedFields of %s: %v", key(u), mf.Manager, err)
		}
		if prev, ok := out[mf.Manager]; ok {
			set = prev.Union(set)
		}
		out[mf.Manager] = set
	}
	return out
}

// --- checks ----------------------------------------------------------------------------------

// convergeFromEmpty applies examples/flux/operator.yaml and examples/flux/git/avs-executors.yaml
// at once. The operator's Kustomization goes Ready; the executors' one, which depends on it,
// applies its manifests but stays not Ready while no controller reports its Performers Ready
// (wait: true), and goes Ready once the controller runs, with every Performer Ready.
func (s *suite) convergeFromEmpty(t *testing.T, ctx context.Context) {
	if err := s.g.ApplyExamples(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.g.WaitReady(ctx, gitops.OperatorKustomization, "", 3*time.Minute); err != nil {
		t.Fatalf("the operator's install: %v", err)
	}
	// The executors' manifests are applied: the Performers exist, nobody reconciles them yet.
	var performers []*unstructured.Unstructured
	for _, ex := range examples {
		objs, err := cluster.ReadObjectsFile(s.g.Executors.RenderedFile(ex))
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			if o.GetKind() == "Performer" {
				performers = append(performers, o)
			}
		}
	}
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		for _, p := range performers {
			if _, err := s.performer(ctx, p.GetNamespace(), p.GetName()); err != nil {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("Flux did not apply the executors' Performers: %v; %s", err, s.kustomization(ctx, t))
	}
	// Not Ready while the Performers are not: kustomize-controller polls health every 5s.
	deadline := time.Now().Add(12 * time.Second)
	for time.Now().Before(deadline) {
		if st := s.kustomization(ctx, t); st.Ready == "True" {
			t.Fatalf("the Kustomization is Ready before any Performer is: %s", st)
		}
		time.Sleep(500 * time.Millisecond)
	}
	st := s.kustomization(ctx, t)
	t.Logf("before the controller runs: %s", st)
	if err := s.g.StartController(ctx); err != nil {
		t.Fatal(err)
	}
	st, err = s.g.WaitReady(ctx, gitops.ExecutorsKustomization, s.revision, 3*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("after: %s", st)
	for _, want := range performers {
		p, err := s.performer(ctx, want.GetNamespace(), want.GetName())
		if err != nil {
			t.Fatal(err)
		}
		if ok, why := performerReady(p); !ok {
			t.Errorf("the Kustomization is Ready but performer %s/%s is not: %s", p.GetNamespace(), p.GetName(), why)
		}
	}
}

// noResyncWrites: a reconciliation of an unchanged revision writes nothing: every applied object
// keeps its resourceVersion.
func (s *suite) noResyncWrites(t *testing.T, ctx context.Context) {
	before := map[string]string{}
	for _, u := range s.inventory(ctx, t) {
		before[key(u)] = u.GetResourceVersion()
	}
	s.resync(t, ctx)
	for _, u := range s.inventory(ctx, t) {
		if rv := before[key(u)]; rv != u.GetResourceVersion() {
			t.Errorf("%s: a resync of the same revision wrote it (resourceVersion %s -> %s)", key(u), rv, u.GetResourceVersion())
		}
	}
}

// resync asks Flux to reconcile the executors' Kustomization again, at the same revision, and
// waits up to 2 minutes for it to have done so and be ready.
func (s *suite) resync(t *testing.T, ctx context.Context) {
	t.Helper()
	token, err := flux.Reconcile(ctx, s.g.Client, flux.Kustomization, flux.Namespace, gitops.ExecutorsKustomization)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := flux.WaitFor(ctx, s.g.Client, flux.Kustomization, flux.Namespace, gitops.ExecutorsKustomization, 2*time.Minute, func(st flux.Status) bool {
		return st.HandledRequest == token && st.IsReady()
	}); err != nil {
		t.Fatal(err)
	}
}

// noDiff: `kubectl diff --server-side` of the rendered manifests against what Flux applied is
// empty without taking over fields (no --force-conflicts). An atomic list the API server defaults
// (a StatefulSet's volumeClaimTemplates: spec.volumeMode, status.phase) conflicts with Flux's
// ownership unless the rendering writes the defaulted values out.
func (s *suite) noDiff(t *testing.T, ctx context.Context) {
	for _, ex := range examples {
		file := s.g.Executors.RenderedFile(ex)
		cmd := exec.CommandContext(ctx, "kubectl", "--kubeconfig", s.g.Cluster.Kubeconfig, "diff", "--server-side", "-f", file)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var exit *exec.ExitError
		switch {
		case err == nil:
		case errors.As(err, &exit) && exit.ExitCode() == 1:
			t.Errorf("%s: kubectl diff --server-side shows drift:\n%s", ex, stdout.String())
		default:
			t.Errorf("%s: kubectl diff --server-side (no --force-conflicts) fails: %v\n%s", ex, err, stderr.String())
		}
	}
}

// handEdit: kubectl patch on a field Flux applied is reverted at the next sync; on every object
// Flux applied, no other manager (the controller least of all) owns a field Flux owns.
func (s *suite) handEdit(t *testing.T, ctx context.Context) {
	want := s.renderedPerformer(t, rollAVS)
	gitVersion, _, _ := unstructured.NestedString(want.Object, "spec", "version")
	if _, err := s.g.Cluster.Kubectl(ctx, "patch", "performer", want.GetName(), "-n", want.GetNamespace(), "--type=merge",
		"-p", `{"spec":{"version":"v0.0.0-hand-edit"}}`); err != nil {
		t.Fatal(err)
	}
	if p, err := s.performer(ctx, want.GetNamespace(), want.GetName()); err != nil {
		t.Fatal(err)
	} else if v, _, _ := unstructured.NestedString(p.Object, "spec", "version"); v != "v0.0.0-hand-edit" {
		t.Fatalf("kubectl patch did not change spec.version (%q)", v)
	}
	s.resync(t, ctx)
	p, err := s.performer(ctx, want.GetNamespace(), want.GetName())
	if err != nil {
		t.Fatal(err)
	}
	if v, _, _ := unstructured.NestedString(p.Object, "spec", "version"); v != gitVersion {
		t.Errorf("performer %s/%s: spec.version is %q after the next sync, want Git's %q", p.GetNamespace(), p.GetName(), v, gitVersion)
	}

	counts := map[string]int{}
	for _, u := range s.inventory(ctx, t) {
		// The controller writes the status of the Performers Flux applies, and nothing else there.
		for _, mf := range u.GetManagedFields() {
			if mf.Manager == controllerFM && mf.Subresource != "status" {
				t.Errorf("%s: %s writes %q (operation %s), not only the status", key(u), controllerFM, mf.Subresource, mf.Operation)
			}
		}
		by := fieldsBy(t, u)
		fluxFields, ok := by[flux.FieldManager]
		if !ok {
			t.Errorf("%s: no fields owned by %s", key(u), flux.FieldManager)
			continue
		}
		for manager, set := range by {
			counts[manager] += set.Size()
			if manager == flux.FieldManager {
				continue
			}
			if both := set.Intersection(fluxFields); !both.Empty() {
				t.Errorf("%s: %s owns fields Flux applied: %s", key(u), manager, both.String())
			}
		}
	}
	t.Logf("fields owned on the objects Flux applied, by manager: %v", counts)
}

// roll: a commit that changes one AVS's performer version rolls that performer: in progress by
// kstatus (its new generation not observed yet, or Upgrading), then Ready on the new image; the
// Kustomization reaches the new revision only after that.
func (s *suite) roll(t *testing.T, ctx context.Context) {
	before := s.renderedPerformer(t, rollAVS)
	oldVersion, _, _ := unstructured.NestedString(before.Object, "spec", "version")
	const newVersion = "v1.5.0"
	if oldVersion == newVersion {
		t.Fatalf("the example's version is already %s", newVersion)
	}
	s.editAVS(t, rollAVS, func(m map[string]any) {
		perf, _ := m["performer"].(map[string]any)
		perf["version"] = newVersion
	})
	s.commit(ctx, t, "Upgrade "+rollAVS+" to "+newVersion)
	p := s.renderedPerformer(t, rollAVS)
	ns, name := p.GetNamespace(), p.GetName()

	var phases []string
	seen := map[string]bool{}
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		st := s.kustomization(ctx, t)
		perf, err := s.performer(ctx, ns, name)
		if err != nil {
			return false, err
		}
		phase, _, _ := unstructured.NestedString(perf.Object, "status", "phase")
		res, err := kstatus.Compute(perf)
		if err != nil {
			return false, err
		}
		// What Flux's health check reads, beside the phase a person reads.
		state := phase + "/" + res.Status.String()
		if v, _, _ := unstructured.NestedString(perf.Object, "spec", "version"); v == newVersion && !seen[state] {
			seen[state] = true
			phases = append(phases, state)
		}
		ready, why := performerReady(perf)
		onNew := ready && s.podImage(ctx, ns, name) != "" && strings.HasSuffix(s.podImage(ctx, ns, name), ":"+newVersion)
		if st.IsReady() && st.Revision == s.revision {
			if !onNew {
				return false, fmt.Errorf("the Kustomization is Ready at %s while performer %s/%s is not Ready on %s: %s, pod image %q",
					st.Revision, ns, name, newVersion, why, s.podImage(ctx, ns, name))
			}
			return true, nil
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("%v (%s)", err, s.kustomization(ctx, t))
	}
	// An upgrade done within the controller's quiet time is written once, when ready: until then
	// the status names the old generation (Running/InProgress); a longer one writes Upgrading.
	if !seen["Running/"+kstatus.InProgressStatus.String()] && !seen["Upgrading/"+kstatus.InProgressStatus.String()] {
		t.Errorf("performer %s/%s went through %v, never in progress by kstatus", ns, name, phases)
	}
	t.Logf("performer %s/%s phases after the commit: %v", ns, name, phases)
}

func (s *suite) podImage(ctx context.Context, namespace, performer string) string {
	var pods corev1.PodList
	if err := s.g.Client.List(ctx, &pods, client.InNamespace(namespace), client.MatchingLabels{"hourglass.eigenlayer.io/performer": performer}); err != nil {
		return ""
	}
	var images []string
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil || len(p.Spec.Containers) == 0 {
			continue
		}
		ready := false
		for _, c := range p.Status.Conditions {
			ready = ready || (c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue)
		}
		if ready {
			images = append(images, p.Spec.Containers[0].Image)
		}
	}
	if len(images) != 1 {
		return ""
	}
	return images[0]
}

// unschedulable: a performer asking for a GPU no node has makes the Kustomization fail its health
// check, naming that Performer; giving it its A100 back makes it Ready again.
func (s *suite) unschedulable(t *testing.T, ctx context.Context) {
	var old any
	s.editAVS(t, gpuAVS, func(m map[string]any) { old = m["profiles"]; m["profiles"] = []any{"gpu-h100"} })
	s.commit(ctx, t, "Move "+gpuAVS+" to H100 GPUs")
	p := s.renderedPerformer(t, gpuAVS)
	st, err := flux.WaitFor(ctx, s.g.Client, flux.Kustomization, flux.Namespace, gitops.ExecutorsKustomization, 3*time.Minute, func(st flux.Status) bool {
		return st.AttemptedRevision == s.revision && st.Ready == "False"
	})
	if err != nil {
		t.Fatal(err)
	}
	if st.Reason != "HealthCheckFailed" {
		t.Errorf("Ready=False reason %q, want HealthCheckFailed: %s", st.Reason, st)
	}
	if ref := "Performer/" + p.GetNamespace() + "/" + p.GetName(); !strings.Contains(st.Message, ref) {
		t.Errorf("the message does not name %s: %q", ref, st.Message)
	}
	t.Logf("%s", st)

	s.editAVS(t, gpuAVS, func(m map[string]any) { m["profiles"] = old })
	s.commit(ctx, t, "Back to A100 GPUs for "+gpuAVS)
	if _, err := s.g.WaitReady(ctx, gitops.ExecutorsKustomization, s.revision, 3*time.Minute); err != nil {
		t.Fatal(err)
	}
}

// prune: removing an AVS from the declaration removes its Performer; its Deployment and Service
// go with it (owner references).
func (s *suite) prune(t *testing.T, ctx context.Context) {
	gone := s.renderedPerformer(t, pruneAVS)
	ns, name := gone.GetNamespace(), gone.GetName()
	err := s.g.Executors.EditDeclaration(multi, func(decl *unstructured.Unstructured) error {
		list, _, _ := unstructured.NestedSlice(decl.Object, "spec", "avs", "supportedAvs")
		var keep []any
		for _, item := range list {
			if m, _ := item.(map[string]any); m["name"] != pruneAVS {
				keep = append(keep, item)
			}
		}
		if len(keep) == len(list) {
			return fmt.Errorf("no AVS %s", pruneAVS)
		}
		return unstructured.SetNestedSlice(decl.Object, keep, "spec", "avs", "supportedAvs")
	})
	if err != nil {
		t.Fatal(err)
	}
	s.commit(ctx, t, "Stop serving "+pruneAVS)
	st, err := s.g.WaitReady(ctx, gitops.ExecutorsKustomization, s.revision, 3*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range st.Inventory {
		if strings.HasPrefix(id, ns+"_"+name+"_hourglass.eigenlayer.io_Performer") {
			t.Errorf("the inventory still lists %s", id)
		}
	}
	err = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		if _, err := s.performer(ctx, ns, name); !apierrors.IsNotFound(err) {
			return false, nil
		}
		for _, obj := range []client.Object{&appsv1.Deployment{}, &corev1.Service{}} {
			if err := s.g.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "performer-" + name}, obj); !apierrors.IsNotFound(err) {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		t.Errorf("performer %s/%s, or its Deployment or Service performer-%s, is still there", ns, name, name)
	}
}

// oci: the same manifests pushed as an OCI artifact the way `flux push artifact` does, and the
// executors' Kustomization switched to examples/flux/oci/avs-executors.yaml: nothing changes in
// the cluster and it is Ready at the artifact's digest.
func (s *suite) oci(t *testing.T, ctx context.Context) {
	reg, err := startRegistry()
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	hash := strings.TrimPrefix(s.revision, "main@sha1:")
	digest, err := pushArtifact(ctx, reg.Host+"/avs-executors", hash[:7], filepath.Join(s.g.Executors.Repo.Work, "rendered"), s.g.Executors.URL, s.revision)
	if err != nil {
		t.Fatal(err)
	}
	inv := s.kustomization(ctx, t).Inventory
	objs, err := s.g.FluxObjects("oci/avs-executors.yaml", map[string]string{"avs-executors": "oci://" + reg.Host + "/avs-executors"}, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := flux.Apply(ctx, s.g.Client, objs...); err != nil {
		t.Fatal(err)
	}
	src, err := flux.WaitFor(ctx, s.g.Client, flux.OCIRepository, flux.Namespace, "avs-executors", 2*time.Minute, func(st flux.Status) bool { return st.IsReady() })
	if err != nil {
		t.Fatal(err)
	}
	if want := "latest@" + digest; src.Revision != want {
		t.Errorf("OCIRepository revision %q, want %q", src.Revision, want)
	}
	// The artifact carries where it was rendered from, as `flux push artifact --source --revision`
	// records it, and source-controller reports it.
	repo := &unstructured.Unstructured{}
	repo.SetGroupVersionKind(flux.OCIRepository)
	if err := s.g.Client.Get(ctx, types.NamespacedName{Namespace: flux.Namespace, Name: "avs-executors"}, repo); err != nil {
		t.Fatal(err)
	}
	meta, _, _ := unstructured.NestedStringMap(repo.Object, "status", "artifact", "metadata")
	if diff := cmp.Diff(map[string]string{"source": s.g.Executors.URL, "revision": s.revision},
		map[string]string{"source": meta["org.opencontainers.image.source"], "revision": meta["org.opencontainers.image.revision"]}); diff != "" {
		t.Errorf("the OCIRepository's artifact metadata (-pushed +reported):\n%s", diff)
	}
	st, err := s.g.WaitReady(ctx, gitops.ExecutorsKustomization, src.Revision, 3*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(inv)
	got := append([]string(nil), st.Inventory...)
	sort.Strings(got)
	if diff := cmp.Diff(inv, got); diff != "" {
		t.Errorf("the inventory changed when the source became the OCI artifact (-git +oci):\n%s", diff)
	}
	t.Logf("%s", st)
}

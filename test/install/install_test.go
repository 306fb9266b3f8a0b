// Package install tests the install assets (base/ and overlays/): each builds with the real
// kustomize CLI exactly as `kubectl apply -k` builds it, and every object it produces is accepted by
// a real API server (server-side apply, dry run, strict field validation).
//
// The ServiceMonitor and PrometheusRule of overlays/components/monitoring are validated against
// minimal monitoring.coreos.com/v1 CRDs that this test installs: their schemas cover the fields the
// component uses (a subset of the Prometheus Operator's), so strict validation still catches a
// misspelt field.
package install

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fluxcd/pkg/ssa/utils"
	"github.com/google/go-cmp/cmp"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/hourglass-gitops/hourglass-gitops/test/envtest"
	"github.com/hourglass-gitops/hourglass-gitops/test/framework/repo"
)

const (
	image      = "ghcr.io/hourglass-gitops/performer-controller"
	fieldOwner = "install-test"
)

// c reaches the test API server; its scheme adds the CRD types to the built-in ones.
var c client.Client

// env is the test API server, for kubectl.
var env *envtest.Env

func TestMain(m *testing.M) {
	envtest.Main(m, func(e *envtest.Env) {
		env = e
		scheme := runtime.NewScheme()
		for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, apiextensionsv1.AddToScheme} {
			if err := add(scheme); err != nil {
				panic(err)
			}
		}
		var err error
		if c, err = client.New(e.Config, client.Options{Scheme: scheme}); err != nil {
			panic(err)
		}
	})
}

var (
	kustomizeOnce sync.Once
	kustomizePath string
	kustomizeErr  error
)

// kustomize returns the pinned kustomize CLI, installing it on first use.
func kustomize(t *testing.T) string {
	t.Helper()
	kustomizeOnce.Do(func() {
		cmd := exec.Command(filepath.Join(repoRoot(t), "hack", "tools.sh"), "kustomize")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			kustomizeErr = fmt.Errorf("cannot install the kustomize CLI with hack/tools.sh kustomize "+
				"(it runs `go install sigs.k8s.io/kustomize/kustomize/v5`, which needs the Go module proxy): %v\n%s", err, stderr.String())
			return
		}
		kustomizePath = strings.TrimSpace(string(out))
	})
	if kustomizeErr != nil {
		t.Fatal(kustomizeErr)
	}
	return kustomizePath
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// build runs `kustomize build dir` and decodes the output.
func build(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	cmd := exec.Command(kustomize(t), "build", dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kustomize build %s: %v\n%s", dir, err, stderr.String())
	}
	objs, err := utils.ReadObjects(bytes.NewReader(out))
	if err != nil {
		t.Fatalf("decoding the output of kustomize build %s: %v", dir, err)
	}
	if len(objs) == 0 {
		t.Fatalf("kustomize build %s produced no objects", dir)
	}
	return objs
}

type installCase struct {
	name string
	// dir is the kustomization, relative to the repository root.
	dir string
	// components are added to dir through a kustomization in a temporary folder.
	components []string
	check      func(t *testing.T, objs []*unstructured.Unstructured)
}

func TestInstallAssets(t *testing.T) {
	cases := []installCase{
		{name: "base", dir: "base", check: checkBase},
		{name: "production", dir: "overlays/production", check: checkProduction},
		{name: "production with monitoring", dir: "overlays/production", components: []string{"overlays/components/monitoring"}, check: checkMonitoring},
		{name: "namespaced", dir: "overlays/namespaced", check: checkNamespaced},
		{name: "dev", dir: "overlays/dev", check: checkDev},
	}
	root := repoRoot(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(root, tc.dir)
			if len(tc.components) > 0 {
				dir = withComponents(t, dir, tc.components)
			}
			objs := build(t, dir)
			if len(tc.components) == 0 {
				sameAsKubectl(t, dir, objs)
			}
			validate(t, objs)
			tc.check(t, objs)
		})
	}
}

// withComponents writes a kustomization that adds components to dir.
func withComponents(t *testing.T, dir string, components []string) string {
	t.Helper()
	tmp := t.TempDir()
	rel := func(p string) string {
		r, err := filepath.Rel(tmp, p)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	k := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- " + rel(dir) + "\ncomponents:\n"
	for _, c := range components {
		k += "- " + rel(filepath.Join(repoRoot(t), c)) + "\n"
	}
	if err := os.WriteFile(filepath.Join(tmp, "kustomization.yaml"), []byte(k), 0o644); err != nil {
		t.Fatal(err)
	}
	return tmp
}

// sameAsKubectl checks that `kubectl kustomize` (the kustomize built into kubectl, which
// `kubectl apply -k` runs) produces the same objects as the kustomize CLI.
func sameAsKubectl(t *testing.T, dir string, want []*unstructured.Unstructured) {
	t.Helper()
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Log("kubectl not on PATH: not comparing with `kubectl kustomize`")
		return
	}
	cmd := exec.Command(kubectl, "kustomize", dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kubectl kustomize %s (what `kubectl apply -k` runs): %v\n%s", dir, err, stderr.String())
	}
	got, err := utils.ReadObjects(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(objectMaps(want), objectMaps(got)); diff != "" {
		t.Errorf("kubectl kustomize %s differs from kustomize build (-kustomize +kubectl):\n%s", dir, diff)
	}
}

func objectMaps(objs []*unstructured.Unstructured) []map[string]any {
	out := make([]map[string]any, len(objs))
	for i, o := range objs {
		out[i] = o.Object
	}
	return out
}

// validate applies Namespaces and CRDs for real (so that namespaced objects and custom resources
// can be checked), then server-side applies every object as a dry run with strict field validation.
func validate(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	var crds []string
	for _, o := range objs {
		if utils.IsNamespace(o) || utils.IsCRD(o) {
			if err := c.Patch(ctx, o.DeepCopy(), client.Apply, client.FieldOwner(fieldOwner), client.ForceOwnership); err != nil {
				t.Fatalf("applying %s: %v", utils.FmtUnstructured(o), err)
			}
		}
		if utils.IsCRD(o) {
			crds = append(crds, o.GetName())
		}
		if o.GetKind() == "ServiceMonitor" {
			installServiceMonitorCRD(t)
		}
	}
	for _, name := range crds {
		waitEstablished(t, name)
	}
	var errs []string
	for _, o := range objs {
		err := c.Patch(ctx, o.DeepCopy(), client.Apply, client.DryRunAll, client.FieldOwner(fieldOwner),
			client.ForceOwnership, client.FieldValidation("Strict"))
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", utils.FmtUnstructured(o), err))
		}
	}
	if len(errs) > 0 {
		t.Errorf("the API server rejects %d object(s):\n%s", len(errs), strings.Join(errs, "\n"))
	}
}

func waitEstablished(t *testing.T, name string) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		var crd apiextensionsv1.CustomResourceDefinition
		if err := c.Get(ctx, types.NamespacedName{Name: name}, &crd); err != nil {
			return false, nil
		}
		for _, c := range crd.Status.Conditions {
			if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("CRD %s not established: %v", name, err)
	}
}

// serviceMonitorCRD is a minimal stand-in for the Prometheus Operator's CRD, with a structural
// schema for the fields overlays/components/monitoring sets.
const serviceMonitorCRD = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: servicemonitors.monitoring.coreos.com
spec:
  group: monitoring.coreos.com
  scope: Namespaced
  names: {kind: ServiceMonitor, listKind: ServiceMonitorList, plural: servicemonitors, singular: servicemonitor}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [selector]
            properties:
              jobLabel: {type: string}
              selector:
                type: object
                properties:
                  matchLabels: {type: object, additionalProperties: {type: string}}
              namespaceSelector:
                type: object
                properties:
                  any: {type: boolean}
                  matchNames: {type: array, items: {type: string}}
              endpoints:
                type: array
                items:
                  type: object
                  properties:
                    port: {type: string}
                    path: {type: string}
                    scheme: {type: string, enum: [http, https]}
                    interval: {type: string, pattern: '^(0|(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$'}
                    scrapeTimeout: {type: string}
                    bearerTokenFile: {type: string}
                    tlsConfig:
                      type: object
                      properties:
                        insecureSkipVerify: {type: boolean}
`

// prometheusRuleCRD is a minimal stand-in for the Prometheus Operator's PrometheusRule CRD, with
// a structural schema for the fields overlays/components/monitoring sets.
const prometheusRuleCRD = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: prometheusrules.monitoring.coreos.com
spec:
  group: monitoring.coreos.com
  scope: Namespaced
  names: {kind: PrometheusRule, listKind: PrometheusRuleList, plural: prometheusrules, singular: prometheusrule}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              groups:
                type: array
                items:
                  type: object
                  required: [name, rules]
                  properties:
                    name: {type: string}
                    interval: {type: string}
                    rules:
                      type: array
                      items:
                        type: object
                        required: [expr]
                        properties:
                          alert: {type: string}
                          record: {type: string}
                          expr: {x-kubernetes-int-or-string: true}
                          for: {type: string}
                          labels: {type: object, additionalProperties: {type: string}}
                          annotations: {type: object, additionalProperties: {type: string}}
`

var smOnce sync.Once

// installServiceMonitorCRD installs the minimal ServiceMonitor and PrometheusRule CRDs.
func installServiceMonitorCRD(t *testing.T) {
	t.Helper()
	smOnce.Do(func() {
		for _, doc := range []string{serviceMonitorCRD, prometheusRuleCRD} {
			var crd apiextensionsv1.CustomResourceDefinition
			if err := yaml.UnmarshalStrict([]byte(doc), &crd); err != nil {
				t.Fatal(err)
			}
			if err := c.Create(context.Background(), &crd); err != nil {
				t.Fatalf("installing the minimal %s CRD: %v", crd.Spec.Names.Kind, err)
			}
			waitEstablished(t, crd.Name)
		}
	})
}

// --- per-install checks --------------------------------------------------------------------

func findObject(t *testing.T, objs []*unstructured.Unstructured, kind, namespace, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && o.GetNamespace() == namespace && o.GetName() == name {
			return o
		}
	}
	t.Fatalf("no %s %s/%s in the output", kind, namespace, name)
	return nil
}

// find returns an object of the output as a typed object (unknown fields are an error).
func find[T any](t *testing.T, objs []*unstructured.Unstructured, kind, namespace, name string) *T {
	t.Helper()
	o := findObject(t, objs, kind, namespace, name)
	out := new(T)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(o.Object, out, true); err != nil {
		t.Fatalf("%s: %v", utils.FmtUnstructured(o), err)
	}
	return out
}

func kinds(objs []*unstructured.Unstructured) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.GetKind())
	}
	sort.Strings(out)
	return slices.Compact(out)
}

func deployment(t *testing.T, objs []*unstructured.Unstructured) *appsv1.Deployment {
	return find[appsv1.Deployment](t, objs, "Deployment", "hourglass-system", "hourglass-operator")
}

func manager(t *testing.T, d *appsv1.Deployment) corev1.Container {
	t.Helper()
	for _, c := range d.Spec.Template.Spec.Containers {
		if c.Name == "manager" {
			return c
		}
	}
	t.Fatal("the Deployment has no manager container")
	return corev1.Container{}
}

// flags parses --name=value arguments; a bare --name maps to "true".
func flags(args []string) map[string]string {
	out := map[string]string{}
	for _, a := range args {
		name, value, ok := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !ok {
			value = "true"
		}
		out[name] = value
	}
	return out
}

// checkBase covers what every install shares; the overlays' checks call it too.
// checkLeftoversPolicy checks that the admission policy making a Performer's creator pod its owner
// and its binding are installed, cluster-scoped: kustomize does not know these kinds and would
// give them the install's namespace.
func checkLeftoversPolicy(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	const name = "hourglass-performer-creator-owns"
	find[admissionregistrationv1.MutatingAdmissionPolicy](t, objs, "MutatingAdmissionPolicy", "", name)
	b := find[admissionregistrationv1.MutatingAdmissionPolicyBinding](t, objs, "MutatingAdmissionPolicyBinding", "", name)
	if b.Spec.PolicyName != name {
		t.Errorf("MutatingAdmissionPolicyBinding %s binds policy %q, want %s", name, b.Spec.PolicyName, name)
	}
}

func checkBase(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	d := deployment(t, objs)
	if got := d.Spec.Template.Labels["app"]; got != "hourglass-operator" {
		t.Errorf("pod label app = %q, want hourglass-operator (kubectl logs -n hourglass-system -l app=hourglass-operator)", got)
	}
	sel, err := labelsSelector(d.Spec.Selector.MatchLabels)
	if err != nil || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
		t.Errorf("the Deployment's selector %v does not match its pod labels %v", d.Spec.Selector.MatchLabels, d.Spec.Template.Labels)
	}
	if d.Spec.Template.Spec.ServiceAccountName != "hourglass-operator" {
		t.Errorf("serviceAccountName = %q, want hourglass-operator", d.Spec.Template.Spec.ServiceAccountName)
	}
	find[corev1.ServiceAccount](t, objs, "ServiceAccount", "hourglass-system", "hourglass-operator")
	checkLeftoversPolicy(t, objs)
	c := manager(t, d)
	if !strings.HasPrefix(c.Image, image+":") || strings.HasSuffix(c.Image, ":latest") {
		t.Errorf("image = %q, want %s with a pinned tag", c.Image, image)
	}
	f := flags(c.Args)
	for name, want := range map[string]string{"metrics-bind-address": ":8080", "health-probe-bind-address": ":8081"} {
		if f[name] != want {
			t.Errorf("--%s = %q, want %q", name, f[name], want)
		}
	}
	for _, p := range []struct {
		probe *corev1.Probe
		path  string
	}{{c.LivenessProbe, "/healthz"}, {c.ReadinessProbe, "/readyz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil || p.probe.HTTPGet.Path != p.path {
			t.Errorf("want an HTTP probe on %s, got %+v", p.path, p.probe)
			continue
		}
		if port := p.probe.HTTPGet.Port.String(); port != "8081" && !hasPort(c, port, 8081) {
			t.Errorf("probe on %s uses port %s, want the health port 8081", p.path, port)
		}
	}
	sc := c.SecurityContext
	if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.ReadOnlyRootFilesystem == nil ||
		!*sc.ReadOnlyRootFilesystem || sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("manager securityContext is not hardened: %+v", sc)
	}
	// The soft memory limit follows the container's: an overlay that renames the container or drops
	// its limit would leave the pod unschedulable or the limit unset.
	var memLimit *corev1.EnvVarSource
	for _, e := range c.Env {
		if e.Name == "GOMEMLIMIT" {
			memLimit = e.ValueFrom
		}
	}
	if memLimit == nil || memLimit.ResourceFieldRef == nil || memLimit.ResourceFieldRef.Resource != "limits.memory" ||
		memLimit.ResourceFieldRef.ContainerName != c.Name {
		t.Errorf("GOMEMLIMIT is not the manager container's limits.memory: %+v", memLimit)
	}
	if c.Resources.Limits.Memory().IsZero() {
		t.Errorf("the manager container has no memory limit for GOMEMLIMIT to follow")
	}
	svc := find[corev1.Service](t, objs, "Service", "hourglass-system", "hourglass-operator-metrics")
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) {
		t.Errorf("the metrics Service selects %v, which does not match the controller pods", svc.Spec.Selector)
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 8080 {
		t.Errorf("metrics Service ports = %+v, want 8080", svc.Spec.Ports)
	}
	podPassesRestricted(t, d)
}

func hasPort(c corev1.Container, name string, port int32) bool {
	for _, p := range c.Ports {
		if p.Name == name && p.ContainerPort == port {
			return true
		}
	}
	return false
}

func labelsSelector(m map[string]string) (labels.Selector, error) {
	if len(m) == 0 {
		return nil, errors.New("empty selector")
	}
	return labels.SelectorFromSet(m), nil
}

// podPassesRestricted dry-run creates the controller's pod in hourglass-system, whose namespace
// enforces the restricted Pod Security Standard, and checks that an unhardened pod is refused there.
func podPassesRestricted(t *testing.T, d *appsv1.Deployment) {
	t.Helper()
	ctx := context.Background()
	pod := &corev1.Pod{}
	pod.Namespace = "hourglass-system"
	pod.GenerateName = "hourglass-operator-"
	pod.Labels = d.Spec.Template.Labels
	pod.Spec = *d.Spec.Template.Spec.DeepCopy()
	// Admission looks the ServiceAccount up; nothing else is created for real.
	sa := &corev1.ServiceAccount{}
	sa.Namespace, sa.Name = pod.Namespace, pod.Spec.ServiceAccountName
	if err := c.Create(ctx, sa); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	if err := c.Create(ctx, pod.DeepCopy(), client.DryRunAll); err != nil {
		t.Errorf("the controller pod is refused in hourglass-system (restricted Pod Security): %v", err)
	}
	weak := pod.DeepCopy()
	weak.Spec.SecurityContext = nil
	weak.Spec.Containers[0].SecurityContext = nil
	if err := c.Create(ctx, weak, client.DryRunAll); err == nil {
		t.Error("hourglass-system accepts a pod without a security context: the namespace does not enforce the restricted Pod Security Standard")
	}
}

func checkProduction(t *testing.T, objs []*unstructured.Unstructured) {
	checkBase(t, objs)
	d := deployment(t, objs)
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
		t.Errorf("replicas = %v, want 2", d.Spec.Replicas)
	}
	c := manager(t, d)
	if flags(c.Args)["leader-elect"] != "true" {
		t.Errorf("two replicas without --leader-elect: %v", c.Args)
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("want cpu and memory requests and a memory limit, got %+v", c.Resources)
	}
	if len(d.Spec.Template.Spec.TopologySpreadConstraints) == 0 {
		t.Error("no topology spread constraints")
	}
	pods := labels.Set(d.Spec.Template.Labels)
	pdb := find[policyv1.PodDisruptionBudget](t, objs, "PodDisruptionBudget", "hourglass-system", "hourglass-operator")
	if sel, err := labelsSelector(pdb.Spec.Selector.MatchLabels); err != nil || !sel.Matches(pods) {
		t.Errorf("the PodDisruptionBudget selects %v, not the controller pods", pdb.Spec.Selector.MatchLabels)
	}
	if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() != 1 {
		t.Errorf("PodDisruptionBudget minAvailable = %v, want 1", pdb.Spec.MinAvailable)
	}
	np := findObject(t, objs, "NetworkPolicy", "hourglass-system", "hourglass-operator")
	npSel, _, _ := unstructured.NestedStringMap(np.Object, "spec", "podSelector", "matchLabels")
	if sel, err := labelsSelector(npSel); err != nil || !sel.Matches(pods) {
		t.Errorf("the NetworkPolicy selects %v, not the controller pods", npSel)
	}
}

func checkMonitoring(t *testing.T, objs []*unstructured.Unstructured) {
	checkProduction(t, objs)
	sm := findObject(t, objs, "ServiceMonitor", "hourglass-system", "hourglass-operator")
	svc := find[corev1.Service](t, objs, "Service", "hourglass-system", "hourglass-operator-metrics")
	smSel, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
	if sel, err := labelsSelector(smSel); err != nil || !sel.Matches(labels.Set(svc.Labels)) {
		t.Errorf("the ServiceMonitor selects services labelled %v; the metrics Service has %v", smSel, svc.Labels)
	}
	endpoints, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	if len(endpoints) != 1 {
		t.Fatalf("ServiceMonitor endpoints = %v, want one", endpoints)
	}
	port, _, _ := unstructured.NestedString(endpoints[0].(map[string]any), "port")
	if port != svc.Spec.Ports[0].Name {
		t.Errorf("the ServiceMonitor scrapes port %q; the metrics Service's port is named %q", port, svc.Spec.Ports[0].Name)
	}
	// The alerts' and the dashboard's content is checked with promtool in test/monitoring.
	findObject(t, objs, "PrometheusRule", "hourglass-system", "hourglass-operator")
	dash := findObject(t, objs, "ConfigMap", "hourglass-system", "hourglass-performers-dashboard")
	if dash.GetLabels()["grafana_dashboard"] != "1" {
		t.Errorf("the dashboard ConfigMap is labelled %v, want grafana_dashboard=1 for Grafana's dashboard sidecar", dash.GetLabels())
	}
	findObject(t, objs, "ConfigMap", "hourglass-system", "hourglass-performers-kube-state-metrics")
}

func checkDev(t *testing.T, objs []*unstructured.Unstructured) {
	checkBase(t, objs)
	d := deployment(t, objs)
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 {
		t.Errorf("replicas = %v, want 1", d.Spec.Replicas)
	}
	c := manager(t, d)
	if c.Image != image+":dev" || c.ImagePullPolicy != corev1.PullIfNotPresent {
		t.Errorf("image %s pulled %s, want %s:dev pulled IfNotPresent (what make docker-build builds)", c.Image, c.ImagePullPolicy, image)
	}
	if got := flags(c.Args)["zap-log-level"]; got != "debug" {
		t.Errorf("--zap-log-level = %q, want debug", got)
	}
}

// checkNamespaced: no cluster-wide grant; in each watched namespace a Role with exactly the
// generated ClusterRole's rules, bound to the controller; --watch-namespaces names those namespaces.
func checkNamespaced(t *testing.T, objs []*unstructured.Unstructured) {
	checkBase(t, objs)
	for _, k := range []string{"ClusterRole", "ClusterRoleBinding"} {
		if slices.Contains(kinds(objs), k) {
			t.Errorf("the namespace-scoped install has a %s", k)
		}
	}
	generated := find[rbacv1.ClusterRole](t, build(t, filepath.Join(repoRoot(t), "base")), "ClusterRole", "", "hourglass-controller")
	watched := strings.Split(flags(manager(t, deployment(t, objs)).Args)["watch-namespaces"], ",")
	if len(watched) == 0 || watched[0] == "" {
		t.Fatal("no --watch-namespaces")
	}
	var bound []string
	for _, o := range objs {
		if o.GetKind() != "RoleBinding" || o.GetNamespace() == "hourglass-system" {
			continue
		}
		rb := find[rbacv1.RoleBinding](t, objs, "RoleBinding", o.GetNamespace(), o.GetName())
		want := []rbacv1.Subject{{Kind: "ServiceAccount", Name: "hourglass-operator", Namespace: "hourglass-system"}}
		if diff := cmp.Diff(want, rb.Subjects); diff != "" {
			t.Errorf("RoleBinding %s/%s subjects (-want +got):\n%s", rb.Namespace, rb.Name, diff)
		}
		if rb.RoleRef.Kind != "Role" {
			t.Errorf("RoleBinding %s/%s refers to a %s", rb.Namespace, rb.Name, rb.RoleRef.Kind)
			continue
		}
		role := find[rbacv1.Role](t, objs, "Role", rb.Namespace, rb.RoleRef.Name)
		if diff := cmp.Diff(generated.Rules, role.Rules); diff != "" {
			t.Errorf("Role %s/%s rules differ from the generated ClusterRole (-generated +role):\n%s", role.Namespace, role.Name, diff)
		}
		bound = append(bound, rb.Namespace)
	}
	sort.Strings(bound)
	sort.Strings(watched)
	if diff := cmp.Diff(watched, bound); diff != "" {
		t.Errorf("--watch-namespaces and the namespaces with a RoleBinding differ (-watched +bound):\n%s", diff)
	}
}

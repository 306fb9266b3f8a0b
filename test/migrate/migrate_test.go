// Package migrate runs docs/migrate-from-upstream-operator.md on a local cluster with KWOK nodes:
// the real helm installs a chart laid out as the upstream operator's (the Performer CRD a template
// of the release), Performers are shaped as the upstream operator writes them (its finalizer,
// status, a bare Pod and a Service each), and every sh block of the page then runs as written.
//
// It runs only with HOURGLASS_E2E=1 (make test-migrate). helm is built from the module proxy by
// hack/tools.sh helm. KWOK pods run no containers, so the upstream operator's Deployment runs
// nothing (the test writes what it would have written), and once the page installs this
// controller it runs as a local process with the installed ServiceAccount's token.
package migrate

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/hourglass-gitops/hourglass-gitops/api/v1alpha1"
	"github.com/hourglass-gitops/hourglass-gitops/test/e2erun"
	"github.com/hourglass-gitops/hourglass-gitops/test/framework/cluster"
	"github.com/hourglass-gitops/hourglass-gitops/test/framework/docrun"
)

const (
	page             = "docs/migrate-from-upstream-operator.md"
	release          = "hourglass-operator" // as the page's first block sets it
	releaseNamespace = "hourglass-system"
	upstreamFinal    = "hourglass.eigenlayer.io/performer-finalizer"
	crdName          = "performers.hourglass.eigenlayer.io"
)

// upstream is a Performer as the upstream operator left it.
type upstream struct {
	namespace, name, avs, image string
	port                        int32 // 0: the CRD's default
}

var performers = []upstream{
	// Made by an executor in kubernetes mode: its name pattern, pull policy Never, port 8080.
	{"avs-one", "performer-3f2a1b-8c9d0e1f", "0x1111111111111111111111111111111111111111", "ghcr.io/example/avs-one:v1.2.0", 8080},
	{"avs-one", "performer-a7b6c5-12345678", "0x2222222222222222222222222222222222222222", "ghcr.io/example/avs-two:v0.9.1", 8080},
	// Written by hand, port left to the default.
	{"avs-two", "price-feed", "0x3333333333333333333333333333333333333333", "ghcr.io/example/price-feed:v3", 0},
}

func TestMigrateFromUpstreamOperator(t *testing.T) {
	e2erun.Gate(t, "migration test (it runs docs/migrate-from-upstream-operator.md)", "test-migrate", "kubectl")
	r := e2erun.BeginCluster(t, "HOURGLASS_E2E_CLUSTER_DIR", "migrate-cluster", 15*time.Minute)
	root, dir, out, ctx := r.Root, r.Dir, r.Out, r.Ctx
	helm := tool(t, root, "helm")
	c, err := cluster.Up(ctx, root, dir, out)
	if err != nil {
		t.Fatal(err)
	}
	if err := cluster.BuildController(ctx, root, dir, out); err != nil {
		t.Fatal(err)
	}
	c.ControllerBuilt = true
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, apiextensionsv1.AddToScheme, v1alpha1.AddToScheme} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	cl, err := client.New(c.Config, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}

	// The upstream install: the chart with the CRD in templates/, then what its controller writes.
	chart := upstreamChart(t, root)
	helmEnv := append(os.Environ(), "KUBECONFIG="+c.Kubeconfig, "PATH="+filepath.Dir(helm)+":"+os.Getenv("PATH"),
		"HELM_CACHE_HOME="+t.TempDir(), "HELM_CONFIG_HOME="+t.TempDir(), "HELM_DATA_HOME="+t.TempDir())
	install := exec.CommandContext(ctx, helm, "install", release, chart, "-n", releaseNamespace, "--create-namespace")
	install.Env = helmEnv
	if o, err := install.CombinedOutput(); err != nil {
		t.Fatalf("helm install: %v\n%s", err, o)
	}
	if _, err := c.Kubectl(ctx, "wait", "--for=condition=Established", "crd/"+crdName, "--timeout=60s"); err != nil {
		t.Fatal(err)
	}
	before := writeUpstreamState(ctx, t, cl)

	// The page, as written.
	work, blocks := docrun.Page(t, root, page)
	sh := &docrun.Shell{Dir: work, Env: helmEnv}
	defer sh.Close()
	var installStart time.Time
	var toReady time.Duration
	for _, b := range blocks {
		if strings.Contains(b.Script, "--force-conflicts -k base") {
			installStart = time.Now()
		}
		o, took, err := sh.Run(ctx, b)
		t.Logf("%s:%d (%s, %s):\n%s%s", page, b.Line, b.Section, took.Round(time.Millisecond), b.Script, o)
		if err != nil {
			t.Fatalf("%s:%d: the block failed: %v\n%s\n%s", page, b.Line, err, b.Script, o)
		}
		if strings.Contains(b.Script, "--force-conflicts -k base") {
			if err := c.StartController(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if strings.Contains(b.Script, "kubectl wait --for=condition=Ready performers --all -A") {
			toReady = time.Since(installStart)
		}
	}
	if installStart.IsZero() || toReady == 0 {
		t.Fatalf("%s: no install block or no wait for Ready: the test's hooks no longer match the page", page)
	}
	t.Logf("from the install block's start to every Performer Ready (the handover block's end): %s", toReady.Round(time.Millisecond))

	// What survived, and who runs it now.
	var crd apiextensionsv1.CustomResourceDefinition
	if err := cl.Get(ctx, types.NamespacedName{Name: crdName}, &crd); err != nil {
		t.Fatalf("the CRD after the migration: %v", err)
	}
	if crd.UID != before[crdName] {
		t.Errorf("the CRD was deleted and recreated (uid %s, was %s)", crd.UID, before[crdName])
	}
	for _, u := range performers {
		var p v1alpha1.Performer
		if err := cl.Get(ctx, types.NamespacedName{Namespace: u.namespace, Name: u.name}, &p); err != nil {
			t.Errorf("Performer %s/%s after the migration: %v", u.namespace, u.name, err)
			continue
		}
		if p.UID != before["performer/"+u.namespace+"/"+u.name] {
			t.Errorf("Performer %s/%s was recreated", u.namespace, u.name)
		}
		if len(p.Finalizers) > 0 {
			t.Errorf("Performer %s/%s still has finalizers %v", u.namespace, u.name, p.Finalizers)
		}
		if cond := meta.FindStatusCondition(p.Status.Conditions, "Ready"); cond == nil || cond.Status != metav1.ConditionTrue || cond.ObservedGeneration != p.Generation {
			t.Errorf("Performer %s/%s: Ready condition %+v, want True for generation %d", u.namespace, u.name, cond, p.Generation)
		}
		name := v1alpha1.WorkloadName(u.name)
		var d appsv1.Deployment
		if err := cl.Get(ctx, types.NamespacedName{Namespace: u.namespace, Name: name}, &d); err != nil {
			t.Errorf("Performer %s/%s has no Deployment of this controller: %v", u.namespace, u.name, err)
		}
		var svc corev1.Service
		if err := cl.Get(ctx, types.NamespacedName{Namespace: u.namespace, Name: name}, &svc); err != nil {
			t.Errorf("Service %s/%s after the migration: %v", u.namespace, name, err)
		} else if svc.UID != before["service/"+u.namespace+"/"+name] {
			t.Errorf("Service %s/%s was recreated: its endpoint's address changed", u.namespace, name)
		}
		var pod corev1.Pod
		if err := cl.Get(ctx, types.NamespacedName{Namespace: u.namespace, Name: name}, &pod); err == nil {
			t.Errorf("the upstream pod %s/%s is still there", u.namespace, name)
		}
	}
	var rels corev1.SecretList
	if err := cl.List(ctx, &rels, client.InNamespace(releaseNamespace), client.MatchingLabels{"owner": "helm", "name": release}); err != nil || len(rels.Items) != 0 {
		t.Errorf("the Helm release is still recorded (%d records, %v)", len(rels.Items), err)
	}
	if t.Failed() {
		return
	}
	goBack(ctx, t, c, cl, sh, root, chart, before)
}

// goBack runs the page's "Going back" block with the test's chart in place of the user's: this
// controller stopped (its Deployment deleted; here the local process), its performer Deployments
// gone, the chart installed again without its CRD, and the CRD and every Performer kept.
func goBack(ctx context.Context, t *testing.T, c *cluster.Cluster, cl client.Client, sh *docrun.Shell, root, chart string, before map[string]types.UID) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, page))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)## Going back\n.*?```bash\n(.*?)```").FindSubmatch(b)
	if m == nil {
		t.Fatalf("%s: no bash block under \"## Going back\"", page)
	}
	const placeholder = "<the chart you installed from>"
	script := string(m[1])
	if !strings.Contains(script, placeholder) {
		t.Fatalf("%s: the going-back block no longer names %q:\n%s", page, placeholder, script)
	}
	script = strings.ReplaceAll(script, placeholder, chart)
	c.StopController() // what deleting its Deployment (the block's first command) does where it runs in a pod
	start := time.Now()
	o, took, err := sh.Run(ctx, docrun.Block{Script: script})
	t.Logf("%s (Going back, %s):\n%s%s", page, took.Round(time.Millisecond), script, o)
	if err != nil {
		t.Fatalf("going back: %v", err)
	}
	var deps appsv1.DeploymentList
	if err := cl.List(ctx, &deps, client.MatchingLabels{"app.kubernetes.io/managed-by": "hourglass-controller"}); err != nil || len(deps.Items) != 0 {
		t.Errorf("after going back: %d performer Deployments of this controller (%v), want none", len(deps.Items), err)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := cl.Get(ctx, types.NamespacedName{Name: crdName}, &crd); err != nil || crd.UID != before[crdName] {
		t.Errorf("after going back: the CRD is gone or recreated (%v)", err)
	}
	for _, u := range performers {
		var p v1alpha1.Performer
		if err := cl.Get(ctx, types.NamespacedName{Namespace: u.namespace, Name: u.name}, &p); err != nil || p.UID != before["performer/"+u.namespace+"/"+u.name] {
			t.Errorf("after going back: Performer %s/%s gone or recreated (%v)", u.namespace, u.name, err)
		}
	}
	var rels corev1.SecretList
	if err := cl.List(ctx, &rels, client.InNamespace(releaseNamespace), client.MatchingLabels{"owner": "helm", "name": release, "status": "deployed"}); err != nil || len(rels.Items) != 1 {
		t.Errorf("after going back: %d deployed records of the Helm release (%v), want 1", len(rels.Items), err)
	}
	t.Logf("going back took %s", time.Since(start).Round(time.Millisecond))
}

// tool returns the pinned tool that hack/tools.sh installs.
func tool(t *testing.T, root, name string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(root, "hack", "tools.sh"), name)
	o, err := cmd.Output()
	if err != nil {
		t.Fatalf("hack/tools.sh %s (it builds %s from the Go module proxy): %v", name, name, err)
	}
	return strings.TrimSpace(string(o))
}

// upstreamChart copies the stand-in chart and adds the Performer CRD as a template, as the
// upstream chart ships it.
func upstreamChart(t *testing.T, root string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "hourglass-operator")
	for _, f := range []string{"Chart.yaml", "values.yaml", "templates/operator.yaml"} {
		b, err := os.ReadFile(filepath.Join("testdata", "upstream-chart", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dst, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	crd, err := os.ReadFile(filepath.Join(root, "base", "crd", "hourglass.eigenlayer.io_performers.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := "{{- if .Values.crd.install }}\n" + string(crd) + "{{- end }}\n"
	if err := os.WriteFile(filepath.Join(dst, "templates", "crd.yaml"), []byte(tmpl), 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

// writeUpstreamState writes what the upstream operator leaves for each Performer: the Performer
// with its finalizer and status, a bare Pod performer-<name> and a Service performer-<name>, both
// controlled by the Performer. It waits for the pods to be Ready and returns the UIDs of the CRD,
// the Performers and the Services.
func writeUpstreamState(ctx context.Context, t *testing.T, cl client.Client) map[string]types.UID {
	t.Helper()
	uids := map[string]types.UID{}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := cl.Get(ctx, types.NamespacedName{Name: crdName}, &crd); err != nil {
		t.Fatal(err)
	}
	uids[crdName] = crd.UID
	for _, u := range performers {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: u.namespace}}
		if err := cl.Create(ctx, ns); err != nil && !strings.Contains(err.Error(), "already exists") {
			t.Fatal(err)
		}
		p := &v1alpha1.Performer{ObjectMeta: metav1.ObjectMeta{Namespace: u.namespace, Name: u.name, Finalizers: []string{upstreamFinal}},
			Spec: v1alpha1.PerformerSpec{AVSAddress: u.avs, Image: u.image, ImagePullPolicy: corev1.PullNever}}
		if u.port != 0 {
			p.Spec.Config.GRPCPort = u.port
			p.Spec.Config.Environment = map[string]string{"GRPC_PORT": fmt.Sprint(u.port)}
		}
		if err := cl.Create(ctx, p); err != nil {
			t.Fatalf("creating Performer %s/%s: %v", u.namespace, u.name, err)
		}
		uids["performer/"+u.namespace+"/"+u.name] = p.UID
		port := p.Spec.Config.GRPCPort // defaulted by the CRD when unset
		name := v1alpha1.WorkloadName(u.name)
		owner := metav1.OwnerReference{APIVersion: v1alpha1.GroupVersion.String(), Kind: "Performer", Name: p.Name, UID: p.UID,
			Controller: ptr(true), BlockOwnerDeletion: ptr(true)}
		labels := map[string]string{"app": "hourglass-performer", "hourglass.eigenlayer.io/performer": u.name, "hourglass.eigenlayer.io/avs": u.avs}
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: u.namespace, Name: name, Labels: labels, OwnerReferences: []metav1.OwnerReference{owner}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "performer", Image: u.image, ImagePullPolicy: corev1.PullNever,
				Ports: []corev1.ContainerPort{{Name: "grpc", ContainerPort: port, Protocol: corev1.ProtocolTCP}}}}}}
		if err := cl.Create(ctx, pod); err != nil {
			t.Fatalf("creating the upstream pod %s/%s: %v", u.namespace, name, err)
		}
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: u.namespace, Name: name, OwnerReferences: []metav1.OwnerReference{owner}},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, Selector: map[string]string{"hourglass.eigenlayer.io/performer": u.name},
				Ports: []corev1.ServicePort{{Name: "grpc", Port: port, TargetPort: intstr.FromString("grpc"), Protocol: corev1.ProtocolTCP}}}}
		if err := cl.Create(ctx, svc); err != nil {
			t.Fatalf("creating the upstream Service %s/%s: %v", u.namespace, name, err)
		}
		uids["service/"+u.namespace+"/"+name] = svc.UID
		now := metav1.NewTime(time.Now().Truncate(time.Second))
		p.Status.Phase = "Running"
		p.Status.Ready = true
		p.Status.PodName = name
		p.Status.ServiceName = name
		p.Status.GRPCEndpoint = name + "." + u.namespace + ".svc.cluster.local"
		p.Status.ReadyTime = &now
		if err := cl.Status().Update(ctx, p); err != nil {
			t.Fatalf("writing the upstream status of %s/%s: %v", u.namespace, u.name, err)
		}
	}
	for _, u := range performers {
		if err := waitPodReady(ctx, cl, u); err != nil {
			t.Fatal(err)
		}
	}
	return uids
}

// waitPodReady waits for the upstream pod of u to be Ready, as KWOK makes it.
func waitPodReady(ctx context.Context, cl client.Client, u upstream) error {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		var pod corev1.Pod
		if err := cl.Get(ctx, types.NamespacedName{Namespace: u.namespace, Name: v1alpha1.WorkloadName(u.name)}, &pod); err != nil {
			return err
		}
		for _, c := range pod.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				return nil
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("the upstream pod of %s/%s is not Ready after a minute", u.namespace, u.name)
}

func ptr[T any](v T) *T { return &v }

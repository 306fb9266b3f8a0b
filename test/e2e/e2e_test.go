// Package e2e proves the whole flow on a local control plane (hack/local-cluster.sh) of its own,
// synced by the real Flux from a Git server on loopback: the operator installed by
// examples/flux/operator.yaml, the controller running with the RBAC the install grants, every
// example rendered by the KRM function with the kustomize CLI as CI does and applied by the
// Kustomization of examples/flux/git, and then what users rely on: readiness, placement on the
// right nodes, the walkthrough's kubectl commands and the Argo CD plugin's rendering. What Flux
// itself does with the product (health checks, rollouts, pruning, drift) is test/flux's.
//
// It runs only with HOURGLASS_E2E=1 (make test-e2e), so `go test ./...` stays fast.
// HOURGLASS_E2E_CLUSTER_DIR sets the cluster's state folder (default .local/e2e-cluster); the
// cluster is stopped at the end, pass or fail, and its logs stay there.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/yaml"

	"github.com/hourglass-gitops/hourglass-gitops/test/e2erun"
	"github.com/hourglass-gitops/hourglass-gitops/test/framework/cluster"
	"github.com/hourglass-gitops/hourglass-gitops/test/framework/gitops"
	"github.com/hourglass-gitops/hourglass-gitops/test/framework/poll"
	"github.com/hourglass-gitops/hourglass-gitops/test/framework/repo"
)

// The clients log through controller-runtime; errors reach the test as returned errors.
func init() { ctrllog.SetLogger(logr.Discard()) }

// The walkthrough's names (getting started guide).
const (
	walkNamespace = "my-avs-project"
	walkPerformer = "my-avs"
	walkExecutor  = "my-avs-executor"
)

// logWriter sends the scripts' progress output to the test log, line by line.
type env struct {
	t        *testing.T
	root     string
	c        *cluster.Cluster
	cl       client.Client
	examples []cluster.Example
}

func TestEndToEnd(t *testing.T) {
	e2erun.Gate(t, "end-to-end test (it runs the walkthrough's kubectl commands)", "test-e2e", "kubectl")
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	dir := os.Getenv("HOURGLASS_E2E_CLUSTER_DIR")
	if dir == "" {
		dir = filepath.Join(root, ".local", "e2e-cluster")
	}
	out := e2erun.Log{T: t}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	clock := e2erun.Start(t)
	phase := clock.Phase

	// Stop the cluster whatever happens; its logs stay in dir.
	t.Cleanup(func() {
		if err := cluster.Down(root, dir, out); err != nil {
			t.Errorf("stopping the cluster: %v", err)
		}
	})
	g := &gitops.Env{Root: root, Dir: dir, Out: out}
	t.Cleanup(g.Stop) // runs before the cluster goes down
	e := &env{t: t, root: root}
	names, err := exampleNames(root)
	if err != nil {
		t.Fatal(err)
	}
	var revision string
	phase("cluster up", func() error { return g.ClusterUp(ctx, true) })
	e.c, e.cl = g.Cluster, g.Client
	phase("Flux controllers", func() error { return g.StartFlux(ctx) })
	phase("build the KRM function", func() error { return cluster.BuildFunction(ctx, root, out) })
	phase("Git: operator release and GitOps repository rendered as CI does", func() error {
		if err := g.StartGit(ctx, false); err != nil {
			return err
		}
		revision, err = g.PublishRepos(ctx, names)
		return err
	})
	phase("apply examples/flux (operator and executors)", func() error { return g.ApplyExamples(ctx) })
	phase("controller as the hourglass-operator ServiceAccount, once Flux has created it", func() error { return g.StartController(ctx) })
	phase("Flux installs the operator", func() error {
		_, err := g.WaitReady(ctx, gitops.OperatorKustomization, "", 3*time.Minute)
		return err
	})
	phase("Flux applies every example and waits (kstatus)", func() error {
		_, err := g.WaitReady(ctx, gitops.ExecutorsKustomization, revision, 5*time.Minute)
		return err
	})
	for _, name := range names {
		objs, err := cluster.ReadObjectsFile(g.Executors.RenderedFile(name))
		if err != nil {
			t.Fatal(err)
		}
		e.examples = append(e.examples, cluster.Example{Name: name, Dir: filepath.Join(root, "examples", name), File: g.Executors.RenderedFile(name), Objects: objs})
	}

	// Read-only checks first, then GitOps fidelity, then the walkthrough's changes, then deletion.
	clock.Steps(ctx, []e2erun.Step{
		{Name: "argo cd plugin renders what kustomize renders", F: e.argocdPlugin},
		{Name: "every example is ready", F: e.examplesReady},
		{Name: "performers land on the right nodes", F: e.placement},
		{Name: "walkthrough", F: e.walkthrough},
	})
}

// --- helpers ---------------------------------------------------------------------------------

func (e *env) kubectl(t *testing.T, ctx context.Context, args ...string) string {
	t.Helper()
	out, err := e.c.Kubectl(ctx, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// performers returns the rendered Performers of every example.
func (e *env) performers() []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, ex := range e.examples {
		for _, o := range ex.Objects {
			if o.GetKind() == "Performer" {
				out = append(out, o)
			}
		}
	}
	return out
}

func (e *env) getPerformer(ctx context.Context, namespace, name string) (*unstructured.Unstructured, error) {
	p := &unstructured.Unstructured{}
	p.SetAPIVersion("hourglass.eigenlayer.io/v1alpha1")
	p.SetKind("Performer")
	err := e.cl.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, p)
	return p, err
}

// performerPod returns the one live pod of a Performer.
func (e *env) performerPod(ctx context.Context, namespace, name string) (*corev1.Pod, error) {
	var pods corev1.PodList
	if err := e.cl.List(ctx, &pods, client.InNamespace(namespace), client.MatchingLabels{"hourglass.eigenlayer.io/performer": name}); err != nil {
		return nil, err
	}
	var live []corev1.Pod
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			live = append(live, p)
		}
	}
	if len(live) != 1 {
		return nil, fmt.Errorf("performer %s/%s has %d live pods, want 1", namespace, name, len(live))
	}
	return &live[0], nil
}

// --- checks ----------------------------------------------------------------------------------

// examplesReady: every Performer is Ready for its generation, every executor StatefulSet has all
// replicas ready (the kstatus wait already passed; this states it in the product's own terms).
func (e *env) examplesReady(t *testing.T, ctx context.Context) {
	if len(e.performers()) == 0 {
		t.Fatal("the examples render no Performer")
	}
	for _, want := range e.performers() {
		p, err := e.getPerformer(ctx, want.GetNamespace(), want.GetName())
		if err != nil {
			t.Errorf("performer %s/%s: %v", want.GetNamespace(), want.GetName(), err)
			continue
		}
		if ok, why := poll.ReadyAtGeneration(p); !ok {
			t.Errorf("performer %s/%s is not ready: %s", p.GetNamespace(), p.GetName(), why)
		}
	}
	for _, ex := range e.examples {
		for _, o := range ex.Objects {
			if o.GetKind() != "StatefulSet" {
				continue
			}
			var sts appsv1.StatefulSet
			if err := e.cl.Get(ctx, client.ObjectKeyFromObject(o), &sts); err != nil {
				t.Errorf("%s: %v", ex.Name, err)
				continue
			}
			want := int32(1)
			if sts.Spec.Replicas != nil {
				want = *sts.Spec.Replicas
			}
			if sts.Status.ReadyReplicas != want {
				t.Errorf("%s: executor %s/%s has %d of %d replicas ready", ex.Name, sts.Namespace, sts.Name, sts.Status.ReadyReplicas, want)
			}
		}
	}
}

// node classes of the local cluster, by the labels the real components set.
func nodeClass(n *corev1.Node) string {
	switch {
	case n.Labels["nvidia.com/gpu.present"] == "true":
		return "gpu"
	case n.Labels["intel.feature.node.kubernetes.io/sgx"] == "true":
		return "sgx"
	case n.Labels["feature.node.kubernetes.io/cpu-security.sev.snp.enabled"] == "true":
		return "sev-snp"
	case n.Labels["feature.node.kubernetes.io/cpu-security.tdx.enabled"] == "true":
		return "tdx"
	case n.Labels["node.kubernetes.io/os"] == "bottlerocket":
		return "bottlerocket"
	}
	return "general"
}

// wantClass is the node class a rendered Performer must land on; "" means an ordinary performer,
// which must stay off the GPU, SGX and Bottlerocket pools.
func wantClass(p *unstructured.Unstructured) string {
	gpus, _, _ := unstructured.NestedInt64(p.Object, "spec", "hardwareRequirements", "gpuCount")
	tee, _, _ := unstructured.NestedString(p.Object, "spec", "hardwareRequirements", "teeType")
	sel, _, _ := unstructured.NestedStringMap(p.Object, "spec", "scheduling", "nodeSelector")
	switch {
	case tee != "":
		return tee
	case gpus > 0:
		return "gpu"
	case sel["node.kubernetes.io/os"] == "bottlerocket":
		return "bottlerocket"
	}
	return ""
}

func (e *env) placement(t *testing.T, ctx context.Context) {
	seen := map[string]int{}
	for _, want := range e.performers() {
		ns, name := want.GetNamespace(), want.GetName()
		pod, err := e.performerPod(ctx, ns, name)
		if err != nil {
			t.Error(err)
			continue
		}
		var node corev1.Node
		if err := e.cl.Get(ctx, types.NamespacedName{Name: pod.Spec.NodeName}, &node); err != nil {
			t.Errorf("performer %s/%s: pod %s on node %q: %v", ns, name, pod.Name, pod.Spec.NodeName, err)
			continue
		}
		got, class := nodeClass(&node), wantClass(want)
		seen[class]++
		switch class {
		case "":
			if got == "gpu" || got == "sgx" || got == "bottlerocket" {
				t.Errorf("ordinary performer %s/%s runs on the %s node %s", ns, name, got, node.Name)
			}
		default:
			if got != class {
				t.Errorf("%s performer %s/%s runs on %s (a %s node)", class, ns, name, node.Name, got)
			}
		}
		t.Logf("%-16s %-18s needs %-13q -> %s (%s)", ns, name, class, node.Name, got)
	}
	// The examples must cover every kind of node, or this check proves little.
	for _, class := range []string{"", "gpu", "sgx", "bottlerocket"} {
		if seen[class] == 0 {
			t.Errorf("no example performer needs %q nodes", class)
		}
	}
	if seen["sev-snp"]+seen["tdx"] == 0 {
		t.Error("no example performer needs SEV-SNP or TDX nodes")
	}
}

// walkthrough runs the getting started guide's commands where they concern the product, as written.
func (e *env) walkthrough(t *testing.T, ctx context.Context) {
	if _, err := e.getPerformer(ctx, walkNamespace, walkPerformer); err != nil {
		t.Fatalf("no example declares the walkthrough's performer %s/%s: %v", walkNamespace, walkPerformer, err)
	}

	t.Run("operator installed", func(t *testing.T) {
		out := e.kubectl(t, ctx, "get", "crd", "performers.hourglass.eigenlayer.io")
		if !strings.Contains(out, "performers.hourglass.eigenlayer.io") {
			t.Errorf("kubectl get crd:\n%s", out)
		}
		// The Deployment the seed's `kubectl logs -n hourglass-system -l app=hourglass-operator`
		// finds on a real cluster (here scaled to zero: KWOK pods run nothing).
		out = e.kubectl(t, ctx, "get", "deployments", "-n", "hourglass-system", "-l", "app=hourglass-operator")
		if !strings.Contains(out, "hourglass-operator") {
			t.Errorf("kubectl get deployments -n hourglass-system -l app=hourglass-operator:\n%s", out)
		}
	})

	t.Run("get and describe performers", func(t *testing.T) {
		out := e.kubectl(t, ctx, "get", "performers", "-n", walkNamespace)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		header := strings.Fields(lines[0])
		if diff := cmp.Diff([]string{"NAME", "AVS", "IMAGE", "VERSION", "PHASE", "READY", "ENDPOINT", "AGE", "STATUS"}, header); diff != "" {
			t.Errorf("kubectl get performers columns (-want +got):\n%s", diff)
		}
		var row []string
		for _, l := range lines[1:] {
			if f := strings.Fields(l); len(f) > 0 && f[0] == walkPerformer {
				row = f
			}
		}
		// STATUS, the Ready condition's message, is the last column and has spaces of its own.
		endpoint := "performer-" + walkPerformer + "." + walkNamespace + ".svc.cluster.local:9090"
		want := []string{walkPerformer, "Running", "True", endpoint, "performer is serving gRPC at " + endpoint}
		if len(row) < len(header) || row[4] != "Running" || row[5] != "True" || row[6] != endpoint ||
			!strings.HasPrefix(strings.Join(row[8:], " "), "performer is serving gRPC at "+endpoint) {
			t.Errorf("kubectl get performers: want a row like %v, got:\n%s", want, out)
		}

		// -o wide adds the ready pod and its node.
		out = e.kubectl(t, ctx, "get", "performer", walkPerformer, "-n", walkNamespace, "-o", "wide")
		lines = strings.Split(strings.TrimSpace(out), "\n")
		header = strings.Fields(lines[0])
		if n := len(header); n < 2 || header[n-2] != "POD" || header[n-1] != "NODE" {
			t.Fatalf("kubectl get performers -o wide: want POD and NODE last, got:\n%s", out)
		}
		row = strings.Fields(lines[1])
		var pod corev1.PodList
		if err := e.cl.List(ctx, &pod, client.InNamespace(walkNamespace), client.MatchingLabels{"hourglass.eigenlayer.io/performer": walkPerformer}); err != nil || len(pod.Items) != 1 {
			t.Fatalf("the performer's pods: %v (%d)", err, len(pod.Items))
		}
		if got := row[len(row)-2:]; !cmp.Equal(got, []string{pod.Items[0].Name, pod.Items[0].Spec.NodeName}) {
			t.Errorf("kubectl get performers -o wide: POD and NODE %v, want %s on %s:\n%s", got, pod.Items[0].Name, pod.Items[0].Spec.NodeName, out)
		}

		out = e.kubectl(t, ctx, "describe", "performer", "-n", walkNamespace)
		for _, re := range []string{
			`(?m)^Name:\s+` + walkPerformer + `$`,
			`(?m)^Kind:\s+Performer$`,
			`(?m)^\s+Grpc Endpoint:\s+performer-` + walkPerformer + `\.` + walkNamespace + `\.svc\.cluster\.local:9090$`,
			`(?m)^\s+Type:\s+Ready$`,
		} {
			if !regexp.MustCompile(re).MatchString(out) {
				t.Errorf("kubectl describe performer does not match %s:\n%s", re, out)
			}
		}

		out = e.kubectl(t, ctx, "get", "pods", "-n", walkNamespace, "-l", "app=hourglass-performer")
		if !strings.Contains(out, "performer-"+walkPerformer+"-") || !strings.Contains(out, "Running") {
			t.Errorf("kubectl get pods -l app=hourglass-performer:\n%s", out)
		}
	})

	t.Run("executor RBAC", func(t *testing.T) {
		var sts appsv1.StatefulSet
		if err := e.cl.Get(ctx, types.NamespacedName{Namespace: walkNamespace, Name: walkExecutor}, &sts); err != nil {
			t.Fatal(err)
		}
		sa := "system:serviceaccount:" + walkNamespace + ":" + sts.Spec.Template.Spec.ServiceAccountName
		other := "hourglass-system"
		for _, c := range []struct {
			args []string
			want string
		}{
			{[]string{"create", "performers", "-n", walkNamespace}, "yes"},
			{[]string{"get", "performers", "-n", walkNamespace}, "yes"},
			{[]string{"delete", "performers", "-n", walkNamespace}, "yes"},
			{[]string{"patch", "performers", "-n", walkNamespace}, "no"},
			{[]string{"get", "configmaps/" + walkExecutor + "-config", "-n", walkNamespace}, "no"},
			{[]string{"create", "performers", "-n", other}, "no"},
			{[]string{"list", "performers", "--all-namespaces"}, "no"},
			{[]string{"get", "secrets", "-n", walkNamespace}, "no"},
			{[]string{"get", "configmaps", "-n", walkNamespace}, "no"},
			{[]string{"create", "deployments", "-n", walkNamespace}, "no"},
		} {
			args := append([]string{"--kubeconfig", e.c.Kubeconfig, "auth", "can-i", "--as=" + sa}, c.args...)
			out, _ := exec.CommandContext(ctx, "kubectl", args...).Output() // exit 1 means "no"
			if got := strings.TrimSpace(string(out)); got != c.want {
				t.Errorf("kubectl auth can-i --as=%s %s = %q, want %q", sa, strings.Join(c.args, " "), got, c.want)
			}
		}
	})

	t.Run("upgrade with kubectl patch rolls the performer", func(t *testing.T) {
		before, err := e.performerPod(ctx, walkNamespace, walkPerformer)
		if err != nil {
			t.Fatal(err)
		}
		e.kubectl(t, ctx, "patch", "performer", walkPerformer, "-n", walkNamespace, "--type=merge",
			"-p", `{"spec":{"image":"my-org/my-avs-performer:v1.1.0","version":"v1.1.0"}}`)
		const image = "my-org/my-avs-performer:v1.1.0"
		var why string
		err = poll.Until(ctx, time.Minute, func(ctx context.Context) (bool, error) {
			p, err := e.getPerformer(ctx, walkNamespace, walkPerformer)
			if err != nil {
				return false, err
			}
			ok, w := poll.ReadyAtGeneration(p)
			why = w
			if !ok {
				return false, nil
			}
			pod, err := e.performerPod(ctx, walkNamespace, walkPerformer)
			if err != nil {
				why = err.Error()
				return false, nil
			}
			why = fmt.Sprintf("pod %s runs %s", pod.Name, pod.Spec.Containers[0].Image)
			return pod.Name != before.Name && pod.Spec.Containers[0].Image == image && podReady(pod), nil
		})
		if err != nil {
			t.Fatalf("the performer did not roll out %s and become ready again: %s", image, why)
		}
		p, _ := e.getPerformer(ctx, walkNamespace, walkPerformer)
		if lu, _, _ := unstructured.NestedString(p.Object, "status", "lastUpgrade"); lu == "" {
			t.Error("status.lastUpgrade is not set after the upgrade")
		}
		var dep appsv1.Deployment
		if err := e.cl.Get(ctx, types.NamespacedName{Namespace: walkNamespace, Name: "performer-" + walkPerformer}, &dep); err != nil {
			t.Fatal(err)
		}
		if dep.Status.UpdatedReplicas != 1 || dep.Status.ReadyReplicas != 1 || dep.Status.Replicas != 1 {
			t.Errorf("rollout not complete: %+v", dep.Status)
		}
		out := e.kubectl(t, ctx, "get", "pods", "-n", walkNamespace, "-l", "hourglass.eigenlayer.io/performer="+walkPerformer)
		t.Logf("kubectl get pods -n %s -l hourglass.eigenlayer.io/performer=%s:\n%s", walkNamespace, walkPerformer, out)
	})

	t.Run("scale the executor", func(t *testing.T) {
		e.kubectl(t, ctx, "scale", "statefulset", walkExecutor, "-n", walkNamespace, "--replicas=3")
		var sts appsv1.StatefulSet
		err := poll.Until(ctx, 90*time.Second, func(ctx context.Context) (bool, error) {
			if err := e.cl.Get(ctx, types.NamespacedName{Namespace: walkNamespace, Name: walkExecutor}, &sts); err != nil {
				return false, err
			}
			return sts.Status.ReadyReplicas == 3 && sts.Status.ObservedGeneration == sts.Generation, nil
		})
		if err != nil {
			t.Fatalf("executor %s has %d of 3 replicas ready: %v", walkExecutor, sts.Status.ReadyReplicas, err)
		}
		out := e.kubectl(t, ctx, "get", "pods", "-n", walkNamespace, "-l", "app="+walkExecutor, "-o", "wide")
		if n := strings.Count(out, "Running"); n != 3 {
			t.Errorf("kubectl get pods -l app=%s shows %d running pods, want 3:\n%s", walkExecutor, n, out)
		}
	})
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// argocdPlugin runs the Config Management Plugin of examples/argocd the way Argo CD's cmp-server
// does (discover, then generate, in a copy of the repository without bin/, the tools on PATH as in
// the sidecar image) and checks that it renders each example exactly as kustomize did.
func (e *env) argocdPlugin(t *testing.T, ctx context.Context) {
	raw, err := os.ReadFile(filepath.Join(e.root, "examples", "argocd", "cmp-plugin.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cm corev1.ConfigMap
	if err := yaml.UnmarshalStrict(raw, &cm); err != nil {
		t.Fatalf("cmp-plugin.yaml: %v", err)
	}
	type command struct {
		Command []string `json:"command"`
		Args    []string `json:"args"`
	}
	var plugin struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name string `json:"name"`
		} `json:"metadata"`
		Spec struct {
			Init     command `json:"init"`
			Generate command `json:"generate"`
			Discover struct {
				Find command `json:"find"`
			} `json:"discover"`
			PreserveFileMode bool `json:"preserveFileMode"`
		} `json:"spec"`
	}
	if err := yaml.UnmarshalStrict([]byte(cm.Data["plugin.yaml"]), &plugin); err != nil {
		t.Fatalf("plugin.yaml in cmp-plugin.yaml: %v", err)
	}
	if plugin.Kind != "ConfigManagementPlugin" {
		t.Fatalf("plugin.yaml is a %q", plugin.Kind)
	}

	// The sidecar image: kustomize and the function on PATH.
	tools := t.TempDir()
	kustomize, err := cluster.Kustomize(ctx, e.root)
	if err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{"kustomize": kustomize, "avs-executor-fn": cluster.FunctionBinary(e.root)} {
		if err := os.Symlink(target, filepath.Join(tools, name)); err != nil {
			t.Fatal(err)
		}
	}
	// The repository as Argo CD checks it out: the examples, no bin/.
	repo := t.TempDir()
	if err := os.CopyFS(filepath.Join(repo, "examples"), os.DirFS(filepath.Join(e.root, "examples"))); err != nil {
		t.Fatal(err)
	}
	run := func(dir, appPath string, c command) (string, error) {
		name := c.Command[0]
		if _, err := os.Stat(filepath.Join(tools, name)); err == nil {
			name = filepath.Join(tools, name) // exec resolves the program with this process's PATH
		}
		cmd := exec.CommandContext(ctx, name, append(c.Command[1:], c.Args...)...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "PATH="+tools+string(os.PathListSeparator)+os.Getenv("PATH"),
			"ARGOCD_APP_SOURCE_PATH="+appPath, "ARGOCD_APP_NAME=test", "ARGOCD_APP_NAMESPACE=argocd")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("%s: %w\n%s", strings.Join(cmd.Args, " "), err, stderr.String())
		}
		return stdout.String(), nil
	}
	for _, ex := range e.examples {
		appPath := "examples/" + ex.Name
		dir := filepath.Join(repo, "examples", ex.Name)
		found, err := run(dir, appPath, plugin.Spec.Discover.Find)
		if err != nil || strings.TrimSpace(found) == "" {
			t.Errorf("%s: the plugin's discover step does not claim the example (%v)", ex.Name, err)
		}
		if len(plugin.Spec.Init.Command) > 0 {
			if _, err := run(dir, appPath, plugin.Spec.Init); err != nil {
				t.Errorf("%s: init: %v", ex.Name, err)
				continue
			}
		}
		got, err := run(dir, appPath, plugin.Spec.Generate)
		if err != nil {
			t.Errorf("%s: generate: %v", ex.Name, err)
			continue
		}
		want, err := os.ReadFile(ex.File)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(string(want), got); diff != "" {
			t.Errorf("%s: the Argo CD plugin renders differently from kustomize (-kustomize +plugin):\n%s", ex.Name, diff)
		}
	}
}

func exampleNames(root string) ([]string, error) {
	dirs, err := cluster.Examples(root)
	var names []string
	for _, d := range dirs {
		names = append(names, filepath.Base(d))
	}
	return names, err
}

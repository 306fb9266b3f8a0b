// Package capacity checks that the Performer CRD's bounds keep the controller within its memory
// limit: the largest Performer the CRD admits, and (when asked for) the controller's peak memory
// with many of them.
package capacity

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/hourglass-gitops/hourglass-gitops/api/v1alpha1"
	"github.com/hourglass-gitops/hourglass-gitops/test/envtest"
	"github.com/hourglass-gitops/hourglass-gitops/test/framework/process"
	"github.com/hourglass-gitops/hourglass-gitops/test/framework/repo"
)

var env *envtest.Env

func TestMain(m *testing.M) { envtest.Main(m, func(e *envtest.Env) { env = e }) }

// TestLargestPerformerIsAdmitted: the API server admits a Performer as large as the schema allows
// (so the bounds and their validation rules are consistent and within the CEL cost budget), and
// one byte more in a bounded field is refused.
func TestLargestPerformerIsAdmitted(t *testing.T) {
	ns := env.Namespace(t)
	schema := specSchema(t)
	p := largestPerformer(t, schema, ns, 0)
	b, err := json.Marshal(p.Object)
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Create(context.Background(), p); err != nil {
		t.Fatalf("the largest Performer is refused: %v", err)
	}
	t.Logf("the largest Performer: %d bytes of JSON", len(b))

	over := largestPerformer(t, schema, ns, 1)
	over.Object["spec"].(map[string]any)["image"] = strings.Repeat("i", 513)
	err = env.Client.Create(context.Background(), over)
	if err == nil || !strings.Contains(err.Error(), "spec.image") {
		t.Errorf("a 513-character image: want a refusal naming spec.image, got %v", err)
	}
	long := largestPerformer(t, schema, ns, 2)
	environment := long.Object["spec"].(map[string]any)["config"].(map[string]any)["environment"].(map[string]any)
	for k := range environment {
		delete(environment, k)
		environment[strings.Repeat("K", len(k)+1)] = "v"
		break
	}
	err = env.Client.Create(context.Background(), long)
	if err == nil || !strings.Contains(err.Error(), "spec.config.environment: Invalid value: environment variable names must be at most 64 characters") {
		t.Errorf("a 65-character environment variable name: want a refusal, got %v", err)
	}
}

// The one-of rules keep a spec from setting every alternative of an embedded type at once, which
// Kubernetes refuses anyway and which would double the largest Performer; the quantity rule keeps
// out a number the controller could not decode.
func TestValidationRules(t *testing.T) {
	ns := env.Namespace(t)
	for name, tc := range map[string]struct {
		spec string
		want string
	}{
		"two probe handlers": {`{"probes": {"liveness": {"exec": {"command": ["true"]}, "grpc": {"port": 9090}}}}`,
			"a probe has exactly one of exec, httpGet, tcpSocket and grpc"},
		"no probe handler": {`{"probes": {"readiness": {"periodSeconds": 5}}}`,
			"a probe has exactly one of exec, httpGet, tcpSocket and grpc"},
		"a number no quantity holds": {`{"resources": {"limits": {"cpu": "1e9999999999999999999"}}}`, "must be a quantity"},
		"two value sources": {`{"config": {"environmentFrom": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}, "fieldRef": {"fieldPath": "metadata.name"}}}]}}`,
			"valueFrom must name exactly one source"},
	} {
		spec := map[string]any{}
		if err := json.Unmarshal([]byte(tc.spec), &spec); err != nil {
			t.Fatal(err)
		}
		spec["avsAddress"], spec["image"] = "0x1234567890abcdef1234567890abcdef12345678", "ghcr.io/example/performer:v1"
		p := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": v1alpha1.GroupVersion.String(), "kind": v1alpha1.PerformerKind,
			"metadata": map[string]any{"name": strings.ReplaceAll(name, " ", "-"), "namespace": ns},
			"spec":     spec,
		}}
		if err := env.Client.Create(context.Background(), p); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: want a refusal with %q, got %v", name, tc.want, err)
		}
	}
}

// capacityN is how many of the largest Performers TestPeakRSSWithLargestPerformers creates; it
// runs only when the variable is set (HOURGLASS_CAPACITY_N=1000 go test ./test/capacity -run
// PeakRSS -v), since creating them takes minutes.
const capacityN = "HOURGLASS_CAPACITY_N"

// TestPeakRSSWithLargestPerformers creates N Performers as large as the CRD allows, then starts
// the controller binary with the environment of its install (GOMEMLIMIT at the container's memory
// limit), waits until it has reconciled them all, and compares its peak RSS with the memory limit
// of base/manager/deployment.yaml. Starting with all of them present is the worst case: the
// informer lists them at once.
func TestPeakRSSWithLargestPerformers(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv(capacityN))
	if n <= 0 {
		t.Skipf("set %s to run it", capacityN)
	}
	limit := memoryLimit(t)
	ns := env.Namespace(t)
	schema := specSchema(t)
	bin := process.Build(t, "./controller")

	start := time.Now()
	var created atomic.Int64
	var bytes atomic.Int64
	errs := make(chan error, n)
	var wg sync.WaitGroup
	next := make(chan int)
	for range 4 {
		wg.Go(func() {
			for i := range next {
				p := largestPerformer(t, schema, ns, i)
				b, _ := json.Marshal(p.Object)
				bytes.Add(int64(len(b)))
				if err := env.Client.Create(context.Background(), p); err != nil {
					errs <- err
					continue
				}
				created.Add(1)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("creating a Performer: %v", err)
	}
	t.Logf("created %d Performers of %d bytes of JSON each (%.1f MiB) in %s", created.Load(), bytes.Load()/int64(n),
		float64(bytes.Load())/(1<<20), time.Since(start).Round(time.Second))

	ctl := runController(t, bin, ns, limit)
	cmd, logPath, stop := ctl.Cmd, ctl.LogPath, func() { _ = ctl.Stop() }
	defer stop()
	// The kernel keeps the peak of the whole RSS; the peak of its anonymous part (what the
	// garbage collector manages, without the binary's file-backed pages) is sampled.
	var peakAnon atomic.Int64
	sampling, stopSampling := context.WithCancel(context.Background())
	defer stopSampling()
	go func() {
		for sampling.Err() == nil {
			if kib, ok := readStatusKiB(cmd.Process.Pid, "RssAnon"); ok && kib*1024 > peakAnon.Load() {
				peakAnon.Store(kib * 1024)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	start = time.Now()
	// The peak once the first Performer is reconciled: the informer has listed them all.
	var listedPeak int64
	err := wait.PollUntilContextTimeout(context.Background(), 2*time.Second, 20*time.Minute, false, func(ctx context.Context) (bool, error) {
		var list v1alpha1.PerformerList
		if err := env.Client.List(ctx, &list, client.InNamespace(ns)); err != nil {
			return false, nil
		}
		done := 0
		for _, p := range list.Items {
			if p.Status.ObservedGeneration == p.Generation {
				done++
			}
		}
		if done > 0 && listedPeak == 0 {
			listedPeak = statusKiB(t, cmd.Process.Pid, "VmHWM") * 1024
		}
		return done == n, nil
	})
	if err != nil {
		t.Fatalf("the controller did not reconcile all %d Performers: %v", n, err)
	}
	peak := statusKiB(t, cmd.Process.Pid, "VmHWM") * 1024
	stopSampling()
	t.Logf("the controller reconciled %d of the largest Performers in %s; peak RSS %.1f MiB (%.1f MiB once it had listed them; anonymous %.1f MiB), memory limit %.0f MiB",
		n, time.Since(start).Round(time.Second), float64(peak)/(1<<20), float64(listedPeak)/(1<<20), float64(peakAnon.Load())/(1<<20), float64(limit)/(1<<20))
	if peak >= limit {
		t.Errorf("peak RSS %d bytes reaches the install's memory limit of %d bytes", peak, limit)
	}
	stop()
	t.Logf("largest live heap after a garbage collection: %d MB (GOMEMLIMIT lets the heap grow towards the limit before collecting)", maxLiveHeapMB(t, logPath))
}

// gcTrace matches a GODEBUG=gctrace=1 line: heap before, after and live after marking, in MB.
var gcTrace = regexp.MustCompile(`^gc \d+ @.*, (\d+)->(\d+)->(\d+) MB`)

// maxLiveHeapMB is the largest live heap the runtime's garbage collection traces report.
func maxLiveHeapMB(t *testing.T, logPath string) int {
	t.Helper()
	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	most := 0
	for _, line := range strings.Split(string(b), "\n") {
		if m := gcTrace.FindStringSubmatch(line); m != nil {
			live, _ := strconv.Atoi(m[3])
			most = max(most, live)
		}
	}
	return most
}

// installEnv is the controller container's environment in base/manager/deployment.yaml: its
// literal values, and GOMEMLIMIT (or any other variable) from limits.memory as the limit.
func installEnv(t *testing.T, limit int64) []string {
	t.Helper()
	var env []string
	for _, e := range manager(t).Env {
		switch {
		case e.ValueFrom == nil:
			env = append(env, e.Name+"="+e.Value)
		case e.ValueFrom.ResourceFieldRef != nil && e.ValueFrom.ResourceFieldRef.Resource == "limits.memory":
			env = append(env, e.Name+"="+strconv.FormatInt(limit, 10))
		default:
			t.Fatalf("base/manager/deployment.yaml: no value for the environment variable %s", e.Name)
		}
	}
	return env
}

// memoryLimit is the controller container's memory limit in base/manager/deployment.yaml.
func memoryLimit(t *testing.T) int64 {
	t.Helper()
	q, ok := manager(t).Resources.Limits["memory"]
	if !ok {
		t.Fatal("base/manager/deployment.yaml sets no memory limit")
	}
	return q.Value()
}

func manager(t *testing.T) corev1.Container {
	t.Helper()
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "base/manager/deployment.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var d appsv1.Deployment
	if err := yaml.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	return d.Spec.Template.Spec.Containers[0]
}

// runController runs the controller against the test API server, reconciling namespace, with the
// environment of its install (GOMEMLIMIT at the memory limit).
func runController(t *testing.T, bin, namespace string, limit int64) *process.Process {
	t.Helper()
	// The garbage collector's traces tell the live heap apart from the headroom it leaves.
	return process.Start(t, bin, append(installEnv(t, limit), "GODEBUG=gctrace=1"),
		"--kubeconfig="+process.Kubeconfig(t, env.KubeConfig), "--metrics-bind-address=0", "--health-probe-bind-address=0",
		"--watch-namespaces="+namespace)
}

// statusKiB reads a kB field of /proc/<pid>/status, such as VmHWM, the peak RSS.
func statusKiB(t *testing.T, pid int, field string) int64 {
	t.Helper()
	kib, ok := readStatusKiB(pid, field)
	if !ok {
		t.Fatalf("/proc/%d/status has no %s", pid, field)
	}
	return kib
}

func readStatusKiB(pid int, field string) (int64, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kib, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kib, err == nil
		}
	}
	return 0, false
}

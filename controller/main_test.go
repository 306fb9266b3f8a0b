package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/yaml"

	"github.com/hourglass-gitops/hourglass-gitops/api/v1alpha1"
	"github.com/hourglass-gitops/hourglass-gitops/test/envtest"
	"github.com/hourglass-gitops/hourglass-gitops/test/framework/process"
)

// The binary as others deploy it: its flags, health and metrics endpoints, leader election, the
// namespaces it watches, and a clean shutdown.
func TestBinary(t *testing.T) {
	env := envtest.Start(t)
	bin := process.Build(t, "./controller")
	watched, other := env.Namespace(t), env.Namespace(t)
	metrics, probes, pprof := freePort(t), freePort(t), freePort(t)
	ctl := process.Start(t, bin, nil,
		"--kubeconfig="+process.Kubeconfig(t, env.KubeConfig),
		"--metrics-bind-address="+metrics,
		"--health-probe-bind-address="+probes,
		"--pprof-bind-address="+pprof,
		"--leader-elect",
		"--leader-election-namespace="+watched,
		"--watch-namespaces= "+watched+" ,",
		"--zap-log-level=debug",
	)

	ctx := context.Background()
	until(t, "/readyz to answer 200", func() bool { return httpStatus("http://"+probes+"/readyz") == 200 })
	if code := httpStatus("http://" + probes + "/healthz"); code != 200 {
		t.Errorf("/healthz answered %d", code)
	}
	// Profiles only where --pprof-bind-address says.
	if code := httpStatus("http://" + pprof + "/debug/pprof/heap"); code != 200 {
		t.Errorf("/debug/pprof/heap at --pprof-bind-address answered %d", code)
	}
	if code := httpStatus("http://" + probes + "/debug/pprof/heap"); code != 404 {
		t.Errorf("/debug/pprof/heap at the probe address answered %d, want 404", code)
	}
	until(t, "the leader election Lease", func() bool {
		var l coordinationv1.Lease
		return env.Client.Get(ctx, types.NamespacedName{Namespace: watched, Name: "performer-controller.hourglass.eigenlayer.io"}, &l) == nil
	})

	newPerformer := func(ns, name, avs string, declared bool) *v1alpha1.Performer {
		p := &v1alpha1.Performer{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec:       v1alpha1.PerformerSpec{AVSAddress: avs, Image: "example.com/perf:v1"},
		}
		if declared {
			p.Annotations = map[string]string{v1alpha1.DeclarationAnnotation: ns + "/" + name}
		}
		return p
	}
	// The unwatched one first: once the watched one is reconciled, the other would have been too.
	// By default a Performer not declared in Git, of an AVS none is declared for, runs nothing.
	for _, p := range []*v1alpha1.Performer{
		newPerformer(other, "p", "0x1234567890abcdef1234567890abcdef12345678", true),
		newPerformer(watched, "undeclared", "0x0000000000000000000000000000000000000002", false),
		newPerformer(watched, "p", "0x1234567890abcdef1234567890abcdef12345678", true),
	} {
		if err := env.Client.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	until(t, "the Deployment in the watched namespace", func() bool {
		return env.Client.Get(ctx, types.NamespacedName{Namespace: watched, Name: "performer-p"}, &appsv1.Deployment{}) == nil
	})
	until(t, "the undeclared Performer to wait for a declaration", func() bool {
		var p v1alpha1.Performer
		err := env.Client.Get(ctx, types.NamespacedName{Namespace: watched, Name: "undeclared"}, &p)
		c := apimeta.FindStatusCondition(p.Status.Conditions, "Ready")
		return err == nil && c != nil && c.Reason == v1alpha1.NotDeclaredReason
	})
	time.Sleep(time.Second)
	if err := env.Client.Get(ctx, types.NamespacedName{Namespace: other, Name: "performer-p"}, &appsv1.Deployment{}); !apierrors.IsNotFound(err) {
		t.Errorf("the controller acted outside --watch-namespaces (Get: %v)", err)
	}
	if err := env.Client.Get(ctx, types.NamespacedName{Namespace: watched, Name: "performer-undeclared"}, &appsv1.Deployment{}); !apierrors.IsNotFound(err) {
		t.Errorf("a Performer not declared in Git got a Deployment without --allow-undeclared-performers (Get: %v)", err)
	}

	// Metrics are served over HTTPS to authenticated, authorized clients only.
	if code := metricsStatus(t, metrics, ""); code != http.StatusUnauthorized {
		t.Errorf("/metrics without a token answered %d, want 401", code)
	}
	if code := metricsStatus(t, metrics, env.MetricsToken(t, watched, "scraper-denied", false)); code != http.StatusForbidden {
		t.Errorf("/metrics with a token not allowed to read it answered %d, want 403", code)
	}
	body := metricsBody(t, metrics, env.MetricsToken(t, watched, "scraper", true))
	want := []string{`controller_runtime_reconcile_total{controller="performer",result="success"}`, "workqueue_depth"}
	if _, set := os.LookupEnv("GOGC"); !set {
		// The garbage collector's target is the controller's default where GOGC is not set.
		want = append(want, fmt.Sprintf("\ngo_gc_gogc_percent %d\n", defaultGCPercent))
	}
	for _, m := range want {
		if !strings.Contains(body, m) {
			t.Errorf("/metrics has no %s", m)
		}
	}
	if !strings.Contains(ctl.Log(), "starting hourglass-controller") {
		t.Error("the startup is not logged")
	}

	// The manager stops within gracefulShutdown of SIGTERM, well within process.StopGrace.
	if err := ctl.Stop(); err != nil {
		t.Errorf("exit after SIGTERM: %v", err)
	}
}

func TestSplitNamespaces(t *testing.T) {
	for in, want := range map[string]string{"": "", "a": "a", " a , b,,": "a|b"} {
		if got := strings.Join(splitNamespaces(in), "|"); got != want {
			t.Errorf("splitNamespaces(%q) = %q, want %q", in, got, want)
		}
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func metricsGet(t *testing.T, addr, token string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "https://"+addr+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	// The controller's serving certificate is self-signed, as the scaffold's is.
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	return c.Do(req)
}

func metricsStatus(t *testing.T, addr, token string) int {
	t.Helper()
	resp, err := metricsGet(t, addr, token)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

func metricsBody(t *testing.T, addr, token string) string {
	t.Helper()
	resp, err := metricsGet(t, addr, token)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics with an allowed token answered %d: %s", resp.StatusCode, b)
	}
	return string(b)
}

func httpStatus(url string) int {
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

func until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestParsePullPolicy(t *testing.T) {
	for in, want := range map[string]string{"IfNotPresent": "IfNotPresent", "Always": "Always", "Never": "Never"} {
		got, err := parsePullPolicy(in)
		if err != nil || string(got) != want {
			t.Errorf("parsePullPolicy(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "ifnotpresent", "Sometimes"} {
		if _, err := parsePullPolicy(in); err == nil || !strings.Contains(err.Error(), "IfNotPresent, Always or Never") {
			t.Errorf("parsePullPolicy(%q) error = %v, want one naming the allowed values", in, err)
		}
	}
}

func TestParsePodSecurityLevel(t *testing.T) {
	for _, tc := range []struct {
		level           string
		allowPrivileged bool
		want            string
	}{
		{"restricted", false, "restricted"},
		{"baseline", false, "baseline"},
		{"privileged", false, "privileged"},
		// The deprecated flag is an alias of privileged.
		{"restricted", true, "privileged"},
		{"privileged", true, "privileged"},
	} {
		got, err := parsePodSecurityLevel(tc.level, tc.allowPrivileged)
		if err != nil || string(got) != tc.want {
			t.Errorf("parsePodSecurityLevel(%q, %v) = %q, %v; want %q", tc.level, tc.allowPrivileged, got, err, tc.want)
		}
	}
	for _, tc := range []struct {
		level           string
		allowPrivileged bool
		want            string
	}{
		{"Restricted", false, "privileged, baseline, restricted"},
		{"", false, "privileged, baseline, restricted"},
		{"baseline", true, "not baseline"},
	} {
		if _, err := parsePodSecurityLevel(tc.level, tc.allowPrivileged); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parsePodSecurityLevel(%q, %v) error = %v, want one with %q", tc.level, tc.allowPrivileged, err, tc.want)
		}
	}
}

type syncedCache bool

func (s syncedCache) WaitForCacheSync(ctx context.Context) bool {
	if !s {
		<-ctx.Done()
	}
	return bool(s)
}

func TestReadyOnlyOnceCachesSynced(t *testing.T) {
	req, _ := http.NewRequest(http.MethodGet, "/readyz", nil)
	if err := cachesSynced(syncedCache(false))(req); err == nil || !strings.Contains(err.Error(), "not synced") {
		t.Errorf("readyz before the caches synced: %v, want an error", err)
	}
	if err := cachesSynced(syncedCache(true))(req); err != nil {
		t.Errorf("readyz after the caches synced: %v", err)
	}
}

// The kubelet must not kill the controller before the manager's graceful shutdown has run out.
func TestGracefulShutdownFitsTheTerminationGracePeriod(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "base", "manager", "deployment.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var dep appsv1.Deployment
	if err := yaml.UnmarshalStrict(b, &dep); err != nil {
		t.Fatal(err)
	}
	grace := dep.Spec.Template.Spec.TerminationGracePeriodSeconds
	if grace == nil || time.Duration(*grace)*time.Second <= gracefulShutdown+2*time.Second {
		t.Errorf("terminationGracePeriodSeconds %v must exceed the manager's graceful shutdown %v with room to release the Lease", grace, gracefulShutdown)
	}
}

// However often a reconcile fails, it is retried within the longest back-off: after an API server
// outage nothing waits for controller-runtime's default of 1000s.
func TestRetryLimiterCapsBackOff(t *testing.T) {
	l := retryLimiter(30 * time.Second)
	req := reconcile.Request{NamespacedName: types.NamespacedName{Namespace: "ns", Name: "p"}}
	var last time.Duration
	for i := 0; i < 40; i++ {
		last = l.When(req)
	}
	if last != 30*time.Second {
		t.Errorf("back-off after 40 failures = %s, want the 30s cap", last)
	}
	l.Forget(req)
	if d := l.When(req); d > time.Second {
		t.Errorf("back-off after a success = %s, want it to start over", d)
	}
}

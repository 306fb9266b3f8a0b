package executor

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	performerv1 "github.com/Layr-Labs/protocol-apis/gen/protos/eigenlayer/hourglass/v1/performer"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/hourglass-gitops/hourglass-gitops/test/envtest"
)

// performer is a plaintext performer gRPC server, as the monorepo's performer server serves:
// ExecuteTask answers "done:<payload>" and records what it got.
type performer struct {
	performerv1.UnimplementedPerformerServiceServer
	mu    sync.Mutex
	tasks []string // task id and payload of each call, and the caller's user agent
}

func (p *performer) ExecuteTask(ctx context.Context, req *performerv1.TaskRequest) (*performerv1.TaskResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tasks = append(p.tasks, string(req.GetTaskId())+" "+string(req.GetPayload()))
	return &performerv1.TaskResponse{TaskId: req.GetTaskId(), Result: append([]byte("done:"), req.GetPayload()...)}, nil
}

func (p *performer) got() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.tasks...)
}

// servePerformer serves a performer on every listener.
func servePerformer(t *testing.T, ls ...net.Listener) *performer {
	t.Helper()
	p := &performer{}
	srv := grpc.NewServer()
	performerv1.RegisterPerformerServiceServer(srv, p)
	for _, l := range ls {
		go func() { _ = srv.Serve(l) }()
	}
	t.Cleanup(srv.Stop)
	return p
}

func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(logWriter{t}, nil))
}

type logWriter struct{ t *testing.T }

func (w logWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

var noRetry = RetryConfig{MaxRetries: 0, ConnectionTimeout: 5 * time.Second}

// The executor speaks plaintext only to addresses containing "127.0.0.1:" or "localhost:";
// anything else gets TLS, which a plaintext performer answers with a failed handshake.
func TestTLSRule(t *testing.T) {
	l1, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l1.Addr().(*net.TCPAddr).Port
	listeners := []net.Listener{l1}
	cases := map[string]string{
		l1.Addr().String():                       "plaintext",
		"localhost:" + strconv.Itoa(port):        "plaintext",
		"dns:///127.0.0.1:" + strconv.Itoa(port): "plaintext",
	}
	// Another loopback address that is not 127.0.0.1: Linux routes all of 127.0.0.0/8 to lo.
	if l2, err := net.Listen("tcp", "127.0.0.2:0"); err == nil {
		listeners = append(listeners, l2)
		cases[l2.Addr().String()] = "tls"
	} else {
		t.Logf("127.0.0.2 is not usable here (%v)", err)
	}
	if l3, err := net.Listen("tcp", "[::1]:"+strconv.Itoa(port)); err == nil {
		listeners = append(listeners, l3) // also where localhost may resolve first
		cases[l3.Addr().String()] = "tls"
	} else {
		t.Logf("[::1] is not usable here (%v)", err)
	}
	if len(listeners) == 1 {
		t.Fatal("neither 127.0.0.2 nor [::1] can listen: no non-127.0.0.1 address to check the TLS side of the rule with")
	}
	p := servePerformer(t, listeners...)

	for endpoint, want := range cases {
		t.Run(endpoint, func(t *testing.T) {
			conn, err := Dial(endpoint, noRetry)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			resp, err := performerv1.NewPerformerServiceClient(conn).ExecuteTask(ctx, &performerv1.TaskRequest{TaskId: []byte("t1"), Payload: []byte(endpoint)})
			switch want {
			case "plaintext":
				if err != nil {
					t.Fatalf("ExecuteTask over plaintext: %v", err)
				}
				if got := string(resp.GetResult()); got != "done:"+endpoint {
					t.Errorf("result %q", got)
				}
			case "tls":
				if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "tls: first record does not look like a TLS handshake") {
					t.Fatalf("ExecuteTask to %s = %v, want Unavailable from a failed TLS handshake", endpoint, err)
				}
			}
		})
	}
	if n := len(p.got()); n != 3 {
		t.Errorf("the performer got %d tasks, want 3 (the plaintext ones): %v", n, p.got())
	}
}

// The retry interceptor retries Unavailable as the executor does, and gives up after MaxRetries.
func TestRetry(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	conn, err := Dial(addr, RetryConfig{MaxRetries: 2, InitialDelay: 50 * time.Millisecond, MaxDelay: time.Second, BackoffMultiplier: 2, ConnectionTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	_, err = performerv1.NewPerformerServiceClient(conn).ExecuteTask(context.Background(), &performerv1.TaskRequest{TaskId: []byte("t")})
	if err == nil || !strings.HasPrefix(err.Error(), "request failed after 3 attempts: ") || status.Code(err) != codes.Unavailable {
		t.Fatalf("ExecuteTask with nothing listening = %v, want Unavailable after 3 attempts", err)
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("3 attempts took %s, want at least the 50ms+100ms backoff", d)
	}
}

var idPattern = regexp.MustCompile(`^performer-[0-9a-f]{6}-[0-9a-f]{8}$`)

const avsAddress = "0x1234567890ABCDEF1234567890abcdef12345678"

func standInConfig(ns string) Config {
	cfg, err := ParseConfig([]byte(`
avsPerformers:
  - image: {repository: my-org/my-avs-performer, tag: v1.0.0}
    processType: server
    avsAddress: "` + avsAddress + `"
    deploymentMode: kubernetes
    envs:
      - {name: LOG_LEVEL, value: debug}
      - {name: EMPTY}
      - {name: API_KEY, kubernetesEnv: {valueFrom: {secretKeyRef: {name: avs-secrets, key: api-key}}}}
      - {name: FEATURES, kubernetesEnv: {valueFrom: {configMapKeyRef: {name: avs-config, key: features}}}}
    kubernetes: {serviceAccountName: my-avs-performer, endpointOverride: "127.0.0.1:1"}
kubernetes:
  namespace: ` + ns + `
  operatorNamespace: hourglass-system
  crdGroup: hourglass.eigenlayer.io
  crdVersion: v1alpha1
  connectionTimeout: 30s
  inCluster: true
`))
	if err != nil {
		panic(err)
	}
	return cfg
}

// What the executor creates, and what it does when nothing makes the Performer ready: give up
// after its timeout and try to delete the Performer with the context that has just expired.
func TestTimeoutLeavesPerformer(t *testing.T) {
	env := envtest.Start(t)
	ns := env.Namespace(t)
	cfg := standInConfig(ns)
	cfg.Timeout, cfg.PollInterval = 4*time.Second, 500*time.Millisecond

	var logs strings.Builder
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(writerFunc(func(b []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		t.Log(strings.TrimSpace(string(b)))
		return logs.Write(b)
	}), nil))
	start := time.Now()
	_, err := Start(context.Background(), env.Config, cfg, log)
	elapsed := time.Since(start)
	if err == nil {
		t.Fatal("Start succeeded although nothing made the Performer ready")
	}
	if elapsed < cfg.Timeout || elapsed > cfg.Timeout+2*time.Second {
		t.Errorf("gave up after %s, want the %s timeout", elapsed, cfg.Timeout)
	}

	var list unstructured.UnstructuredList
	list.SetAPIVersion("hourglass.eigenlayer.io/v1alpha1")
	list.SetKind("PerformerList")
	if err := env.Client.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 {
		t.Fatalf("%d Performers in %s, want the 1 the executor made", len(list.Items), ns)
	}
	p := list.Items[0]
	id := p.GetName()
	if !idPattern.MatchString(id) {
		t.Errorf("Performer name %q, want performer-<6 hex>-<8 hex>", id)
	}
	sum := sha256.Sum256([]byte(strings.ToLower(avsAddress)))
	if got, want := id[len("performer-"):len("performer-")+6], hex.EncodeToString(sum[:])[:6]; got != want {
		t.Errorf("name hash %s, want sha256 of the lower-cased address %s", got, want)
	}
	wantErr := "failed to create performer resource: performer not ready: timeout waiting for performer " + id + " to be ready"
	if err.Error() != wantErr {
		t.Errorf("error\n got  %v\n want %s", err, wantErr)
	}
	mu.Lock()
	// The released executor logs, as seen by running it: ... error="failed to delete Performer CRD
	// <id>: client rate limiter Wait returned an error: context deadline exceeded".
	cleanup := regexp.MustCompile(`msg="Failed to clean up performer after creation failure" performerID=` + id + ` error="failed to delete Performer CRD ` + id + `: .*context deadline exceeded"`)
	if !cleanup.MatchString(logs.String()) {
		t.Errorf("no failed clean-up logged:\n%s", logs.String())
	}
	mu.Unlock()

	lower := strings.ToLower(avsAddress)
	want := map[string]any{
		"labels": map[string]any{"app": "hourglass-performer", "hourglass.eigenlayer.io/avs": lower, "hourglass.eigenlayer.io/performer": id},
		"spec": map[string]any{
			"avsAddress":      lower,
			"image":           "my-org/my-avs-performer:v1.0.0",
			"imagePullPolicy": "Never",
			"version":         "v1.0.0",
			"resources":       map[string]any{},
			"config": map[string]any{
				"grpcPort":           int64(8080),
				"serviceAccountName": "my-avs-performer",
				"environment":        map[string]any{"AVS_ADDRESS": lower, "GRPC_PORT": "8080", "LOG_LEVEL": "debug"},
				"environmentFrom": []any{
					map[string]any{"name": "API_KEY", "valueFrom": map[string]any{"secretKeyRef": map[string]any{"name": "avs-secrets", "key": "api-key"}}},
					map[string]any{"name": "FEATURES", "valueFrom": map[string]any{"configMapKeyRef": map[string]any{"name": "avs-config", "key": "features"}}},
				},
			},
		},
	}
	got := map[string]any{"labels": p.Object["metadata"].(map[string]any)["labels"], "spec": p.Object["spec"]}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the Performer the executor made (-want +got):\n%s", diff)
	}
}

// The happy path without a controller: the test plays the controller and sets status.ready.
// Two readiness waits pass, the connection goes to endpointOverride, and shutdown deletes the
// Performer.
func TestStartAndShutdown(t *testing.T) {
	env := envtest.Start(t)
	ns := env.Namespace(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	perf := servePerformer(t, l)
	cfg := standInConfig(ns)
	cfg.AvsPerformers[0].Kubernetes.EndpointOverride = l.Addr().String()
	cfg.Timeout, cfg.PollInterval = 20*time.Second, 200*time.Millisecond
	cfg.Retry = &noRetry

	ctx := context.Background()
	type result struct {
		e   *Executor
		err error
	}
	done := make(chan result, 1)
	go func() {
		e, err := Start(ctx, env.Config, cfg, testLog(t))
		done <- result{e, err}
	}()

	var list unstructured.UnstructuredList
	list.SetAPIVersion("hourglass.eigenlayer.io/v1alpha1")
	list.SetKind("PerformerList")
	deadline := time.Now().Add(10 * time.Second)
	for len(list.Items) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no Performer created")
		}
		time.Sleep(50 * time.Millisecond)
		if err := env.Client.List(ctx, &list, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
	}
	p := list.Items[0]
	readyAt := time.Now()
	if err := unstructured.SetNestedField(p.Object, true, "status", "ready"); err != nil {
		t.Fatal(err)
	}
	if err := unstructured.SetNestedField(p.Object, "Running", "status", "phase"); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Status().Update(ctx, &p); err != nil {
		t.Fatal(err)
	}

	r := <-done
	if r.err != nil {
		t.Fatalf("Start: %v", r.err)
	}
	perfAt := r.e.Performer(avsAddress)
	// One poll interval for each of the two waits, at most.
	if d := perfAt.Ready.Sub(readyAt); d > 3*cfg.PollInterval+time.Second {
		t.Errorf("ready %s after status.ready was set, want within two poll intervals", d)
	}
	got := []string{perfAt.ID, perfAt.Endpoint, perfAt.DialEndpoint}
	want := []string{p.GetName(), "performer-" + p.GetName() + "." + ns + ".svc.cluster.local:8080", l.Addr().String()}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("id, endpoint, dialled endpoint (-want +got):\n%s", diff)
	}

	resp, err := r.e.ExecuteTask(ctx, avsAddress, []byte("task-1"), []byte("payload"))
	if err != nil {
		t.Fatalf("ExecuteTask: %v", err)
	}
	if diff := cmp.Diff([]string{"task-1 done:payload"}, []string{string(resp.GetTaskId()) + " " + string(resp.GetResult())}); diff != "" {
		t.Errorf("task response (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"task-1 payload"}, perf.got()); diff != "" {
		t.Errorf("tasks the performer got (-want +got):\n%s", diff)
	}

	if err := r.e.Shutdown(); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := env.Client.List(ctx, &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 0 {
		t.Errorf("%d Performers left after shutdown, want 0", len(list.Items))
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

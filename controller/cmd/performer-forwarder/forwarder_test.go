package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// slowService is a health service name whose Check blocks until the caller's deadline or
// cancellation reaches the server.
const slowService = "slow"

// seen is what the gRPC server observed of a blocked call.
type seen struct {
	mu        sync.Mutex
	remaining time.Duration // deadline left when the call arrived
	ended     chan struct{} // closed when the call's context ended on the server
}

// grpcServer is a plaintext gRPC server with the health service (unary Check, server-streaming
// Watch); it echoes the x-request-id metadata as a header and blocks Check("slow").
func grpcServer(t *testing.T, l net.Listener) (*health.Server, *seen) {
	t.Helper()
	s := &seen{ended: make(chan struct{})}
	hs := health.NewServer()
	srv := grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if md, ok := metadata.FromIncomingContext(ctx); ok && len(md.Get("x-request-id")) == 1 {
			_ = grpc.SetHeader(ctx, metadata.Pairs("x-echo", md.Get("x-request-id")[0]))
		}
		if r, ok := req.(*healthpb.HealthCheckRequest); ok && r.Service == slowService {
			dl, _ := ctx.Deadline()
			s.mu.Lock()
			s.remaining = time.Until(dl)
			s.mu.Unlock()
			<-ctx.Done()
			close(s.ended)
			return nil, status.FromContextError(ctx.Err()).Err()
		}
		return h(ctx, req)
	}))
	healthpb.RegisterHealthServer(srv, hs)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	return hs, s
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) { w.t.Log(string(b)); return len(b), nil }

// testLimits are the defaults with a shorter dial timeout.
var testLimits = limits{dialTimeout: 2 * time.Second, maxConns: defaultMaxConnections, idleTimeout: defaultIdleTimeout}

// startForwarder forwards a fresh loopback port to target and returns that port's address.
func startForwarder(t *testing.T, target string) (*forwarder, string) {
	t.Helper()
	return startForwarderWith(t, target, testLimits, testLogger(t))
}

func startForwarderWith(t *testing.T, target string, lim limits, log *slog.Logger) (*forwarder, string) {
	t.Helper()
	f := newForwarder([]route{{listen: "127.0.0.1:0", target: target}}, lim, log)
	if err := f.Listen(); err != nil {
		t.Fatal(err)
	}
	f.Serve()
	t.Cleanup(func() { f.Shutdown(0) })
	return f, f.routes[0].listener.Addr().String()
}

func dial(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

func TestUnaryCallWithMetadata(t *testing.T) {
	l := listen(t)
	grpcServer(t, l)
	_, addr := startForwarder(t, l.Addr().String())

	ctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(context.Background(), "x-request-id", "task-42"), 5*time.Second)
	defer cancel()
	var header metadata.MD
	resp, err := healthpb.NewHealthClient(dial(t, addr)).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Header(&header))
	if err != nil {
		t.Fatalf("Check through the forwarder: %v", err)
	}
	got := []string{resp.GetStatus().String(), header.Get("x-echo")[0]}
	if diff := cmp.Diff([]string{"SERVING", "task-42"}, got); diff != "" {
		t.Errorf("status and echoed metadata (-want +got):\n%s", diff)
	}
}

// watchThroughForwarder starts a health server that serves "perf", a forwarder to it, and a
// Watch of "perf" through the forwarder that ends with the test or after 10 seconds.
func watchThroughForwarder(t *testing.T) (*health.Server, *forwarder, healthpb.Health_WatchClient) {
	t.Helper()
	l := listen(t)
	hs, _ := grpcServer(t, l)
	hs.SetServingStatus("perf", healthpb.HealthCheckResponse_SERVING)
	f, addr := startForwarder(t, l.Addr().String())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	stream, err := healthpb.NewHealthClient(dial(t, addr)).Watch(ctx, &healthpb.HealthCheckRequest{Service: "perf"})
	if err != nil {
		t.Fatal(err)
	}
	return hs, f, stream
}

func TestServerStream(t *testing.T) {
	hs, _, stream := watchThroughForwarder(t)
	var got []string
	for _, next := range []healthpb.HealthCheckResponse_ServingStatus{healthpb.HealthCheckResponse_NOT_SERVING, healthpb.HealthCheckResponse_SERVING} {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatalf("Recv after %v: %v", got, err)
		}
		got = append(got, resp.GetStatus().String())
		hs.SetServingStatus("perf", next)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatalf("Recv after %v: %v", got, err)
	}
	got = append(got, resp.GetStatus().String())
	if diff := cmp.Diff([]string{"SERVING", "NOT_SERVING", "SERVING"}, got); diff != "" {
		t.Errorf("streamed statuses (-want +got):\n%s", diff)
	}
}

func TestDeadlinePropagates(t *testing.T) {
	l := listen(t)
	_, s := grpcServer(t, l)
	_, addr := startForwarder(t, l.Addr().String())
	client := healthpb.NewHealthClient(dial(t, addr))
	// Connect first, so the deadline measures the call and not the connection set-up.
	if _, err := client.Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatal(err)
	}

	const timeout = 400 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	_, err := client.Check(ctx, &healthpb.HealthCheckRequest{Service: slowService})
	elapsed := time.Since(start)
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("Check(slow) = %v, want DeadlineExceeded", err)
	}
	if elapsed < timeout || elapsed > timeout+750*time.Millisecond {
		t.Errorf("DeadlineExceeded after %s, want it at the %s deadline", elapsed, timeout)
	}
	select {
	case <-s.ended:
	case <-time.After(2 * time.Second):
		t.Fatal("the server's call never ended: the deadline did not reach it")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.remaining <= 0 || s.remaining > timeout {
		t.Errorf("the server saw %s left of the deadline, want the client's (at most %s)", s.remaining, timeout)
	}
}

func TestTargetDownThenUp(t *testing.T) {
	l := listen(t)
	target := l.Addr().String()
	l.Close() // nothing listens on target now
	_, addr := startForwarder(t, target)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := healthpb.NewHealthClient(dial(t, addr)).Check(ctx, &healthpb.HealthCheckRequest{})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("Check with the target down = %v, want Unavailable", err)
	}

	// Every connection dials afresh: once the target is up, a new connection reaches it.
	l2, err := net.Listen("tcp", target)
	if err != nil {
		t.Skipf("the target port was taken meanwhile: %v", err)
	}
	grpcServer(t, l2)
	if _, err := healthpb.NewHealthClient(dial(t, addr)).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatalf("Check once the target is up: %v", err)
	}
}

// answerAtFIN serves one connection: it reads the request until the client's FIN and writes back
// answer(request).
func answerAtFIN(t *testing.T, answer func(req []byte) []byte) net.Listener {
	l := listen(t)
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		req, _ := io.ReadAll(c)
		_, _ = c.Write(answer(req))
	}()
	return l
}

// The client closes its sending side and still reads the whole answer: the FIN is passed on,
// not turned into a full close.
func TestHalfClose(t *testing.T) {
	l := answerAtFIN(t, func(req []byte) []byte { return append([]byte("got "), req...) })
	_, addr := startForwarder(t, l.Addr().String())

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("task")); err != nil {
		t.Fatal(err)
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	resp, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("reading after half-close: %v", err)
	}
	if diff := cmp.Diff("got task", string(resp)); diff != "" {
		t.Errorf("answer (-want +got):\n%s", diff)
	}
}

func TestGracefulShutdown(t *testing.T) {
	l := listen(t)
	hs, _ := grpcServer(t, l)
	hs.SetServingStatus("perf", healthpb.HealthCheckResponse_SERVING)
	f, addr := startForwarder(t, l.Addr().String())
	cc := dial(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := healthpb.NewHealthClient(cc).Watch(ctx, &healthpb.HealthCheckRequest{Service: "perf"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}

	closed := make(chan int, 1)
	go func() { closed <- f.Shutdown(10 * time.Second) }()
	deadline := time.Now().Add(2 * time.Second)
	for f.Ready() {
		if time.Now().After(deadline) {
			t.Fatal("still ready after Shutdown began")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Error("a new connection was accepted during shutdown")
	}

	// The open stream goes on.
	hs.SetServingStatus("perf", healthpb.HealthCheckResponse_NOT_SERVING)
	resp, err := stream.Recv()
	if err != nil {
		t.Fatalf("the open stream broke at shutdown: %v", err)
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("streamed %v after shutdown began, want NOT_SERVING", resp.GetStatus())
	}
	select {
	case n := <-closed:
		t.Fatalf("Shutdown returned (closing %d) while a connection was open", n)
	default:
	}

	// Once the client is done, shutdown ends without waiting for the grace period.
	start := time.Now()
	cc.Close()
	select {
	case n := <-closed:
		if n != 0 {
			t.Errorf("Shutdown closed %d connections, want 0", n)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("Shutdown took %s after the last connection ended", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown did not return after the last connection ended")
	}
}

func TestShutdownGraceEnds(t *testing.T) {
	_, f, stream := watchThroughForwarder(t)
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}

	const grace = 300 * time.Millisecond
	start := time.Now()
	n := f.Shutdown(grace)
	if d := time.Since(start); d < grace || d > grace+time.Second {
		t.Errorf("Shutdown took %s, want about the %s grace period", d, grace)
	}
	if n != 1 {
		t.Errorf("Shutdown closed %d connections, want 1", n)
	}
	if _, err := stream.Recv(); status.Code(err) != codes.Unavailable {
		t.Errorf("Recv on a connection closed at the end of the grace period = %v, want Unavailable", err)
	}
}

func TestParseFlags(t *testing.T) {
	good := []string{
		"--route=127.0.0.1:9101=performer-my-avs.my-avs-project.svc.cluster.local:9090",
		"--route=127.0.0.1:9102=performer-other.my-avs-project.svc.cluster.local:8080",
		"--health-addr=:9200", "--dial-timeout=2s",
	}
	cfg, err := parseFlags(good, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var routes []string
	for _, r := range cfg.routes {
		routes = append(routes, r.listen+" -> "+r.target)
	}
	want := []string{
		"127.0.0.1:9101 -> performer-my-avs.my-avs-project.svc.cluster.local:9090",
		"127.0.0.1:9102 -> performer-other.my-avs-project.svc.cluster.local:8080",
	}
	if diff := cmp.Diff(want, routes); diff != "" {
		t.Errorf("routes (-want +got):\n%s", diff)
	}
	if cfg.healthAddr != ":9200" || cfg.limits.dialTimeout != 2*time.Second {
		t.Errorf("health-addr %q, dial-timeout %s", cfg.healthAddr, cfg.limits.dialTimeout)
	}
	def, err := parseFlags(good[:1], io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	wantDefaults := config{
		routes: def.routes, healthAddr: ":9100", healthMax: 8, shutdownGrace: 20 * time.Second, logLevel: slog.LevelInfo,
		limits: limits{dialTimeout: 5 * time.Second, maxConns: 128, idleTimeout: 5 * time.Minute},
	}
	if diff := cmp.Diff(wantDefaults, def, cmp.AllowUnexported(config{}, limits{}, route{})); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "--route: at least one route is required, e.g. --route=127.0.0.1:9101=performer-my-avs.my-avs-project.svc.cluster.local:9090"},
		{[]string{"--route=127.0.0.1:9101"}, `invalid value "127.0.0.1:9101" for flag -route: want LISTEN=TARGET, e.g. 127.0.0.1:9101=performer-my-avs.my-avs-project.svc.cluster.local:9090`},
		{[]string{"--route=127.0.0.1:9101=a:1=b:2"}, `invalid value "127.0.0.1:9101=a:1=b:2" for flag -route: want LISTEN=TARGET, e.g. 127.0.0.1:9101=performer-my-avs.my-avs-project.svc.cluster.local:9090`},
		{[]string{"--route=9101=perf:9090"}, `invalid value "9101=perf:9090" for flag -route: listen address: address 9101: missing port in address`},
		{[]string{"--route=127.0.0.1:http=perf:9090"}, `invalid value "127.0.0.1:http=perf:9090" for flag -route: listen address: "127.0.0.1:http": port must be a number from 1 to 65535`},
		{[]string{"--route=127.0.0.1:9101=:9090"}, `invalid value "127.0.0.1:9101=:9090" for flag -route: target address: ":9090" has no host`},
		{[]string{"--route=127.0.0.1:9101=perf:70000"}, `invalid value "127.0.0.1:9101=perf:70000" for flag -route: target address: "perf:70000": port must be a number from 1 to 65535`},
		{[]string{"--route=127.0.0.1:9101=a:1", "--route=127.0.0.1:9101=b:2"}, `invalid value "127.0.0.1:9101=b:2" for flag -route: listen address 127.0.0.1:9101 is already used by --route=127.0.0.1:9101=a:1`},
		{[]string{"--route=127.0.0.1:9101=a:1", "--dial-timeout=0s"}, "--dial-timeout: must be positive, got 0s"},
		{[]string{"--route=127.0.0.1:9101=a:1", "--health-addr="}, "--health-addr: must not be empty"},
		{[]string{"--route=127.0.0.1:9101=a:1", "--max-connections=0"}, "--max-connections: must be at least 1, got 0"},
		{[]string{"--route=127.0.0.1:9101=a:1", "--idle-timeout=0s"}, "--idle-timeout: must be positive, got 0s"},
		{[]string{"--route=127.0.0.1:9101=a:1", "--health-max-connections=0"}, "--health-max-connections: must be at least 1, got 0"},
		{[]string{"--route=127.0.0.1:9101=a:1", "127.0.0.1:9102=b:2"}, `unexpected arguments ["127.0.0.1:9102=b:2"]: give every route as --route=LISTEN=TARGET`},
	} {
		_, err := parseFlags(tc.args, io.Discard)
		got := "<nil>"
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("parseFlags(%q):\n got  %s\n want %s", tc.args, got, tc.want)
		}
	}
}

func TestListenAllOrNothing(t *testing.T) {
	taken := listen(t)
	defer taken.Close()
	f := newForwarder([]route{
		{listen: "127.0.0.1:0", target: "perf:9090"},
		{listen: taken.Addr().String(), target: "other:9090"},
	}, testLimits, testLogger(t))
	err := f.Listen()
	if err == nil {
		t.Fatal("Listen succeeded on a taken port")
	}
	want := "--route " + taken.Addr().String() + "=other:9090: listen tcp " + taken.Addr().String() + ": bind: address already in use"
	if err.Error() != want {
		t.Errorf("Listen error:\n got  %v\n want %s", err, want)
	}
	// The first route's port was released again.
	if f.routes[0].listener != nil {
		if _, err := f.routes[0].listener.Accept(); err == nil {
			t.Error("the first route still accepts after Listen failed")
		}
	}
}

// Messages far larger than the copy buffer, both ways, move in the kernel through pipes: the
// bytes arrive whole and in order, the half-close still passes, and no pipe outlives its
// connection.
func TestLargeMessages(t *testing.T) {
	const size = 24 << 20
	l := answerAtFIN(t, func(req []byte) []byte {
		sum := sha256.Sum256(req)
		slices.Reverse(req)
		return append(sum[:], req...)
	})
	_, addr := startForwarder(t, l.Addr().String())
	baseline := fds(t, "self")

	req := make([]byte, size)
	_, _ = rand.NewChaCha8([32]byte{1}).Read(req)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	go func() {
		_, _ = c.Write(req)
		_ = c.(*net.TCPConn).CloseWrite()
	}()
	resp, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	want := sha256.Sum256(req)
	slices.Reverse(req)
	if len(resp) != sha256.Size+size {
		t.Fatalf("answer of %d bytes, want %d", len(resp), sha256.Size+size)
	}
	if diff := cmp.Diff(want[:], resp[:sha256.Size]); diff != "" {
		t.Errorf("server's digest of the request (-want +got):\n%s", diff)
	}
	if !bytes.Equal(req, resp[sha256.Size:]) {
		t.Error("the answer's bytes differ from the request's reversed")
	}
	c.Close()
	waitFDs(t, "self", baseline, 10*time.Second)
}

// A target that takes nothing while a large message is on its way: the forwarder gives up after
// the idle timeout instead of holding the connection and its pipe.
func TestStuckTargetTimesOut(t *testing.T) {
	const idle = 300 * time.Millisecond
	l := listen(t)
	stuck := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			stuck <- c // never read
		}
	}()
	lim := testLimits
	lim.idleTimeout = idle
	f, addr := startForwarderWith(t, l.Addr().String(), lim, discardLogger())
	baseline := fds(t, "self")

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	_ = c.SetWriteDeadline(time.Now().Add(20 * time.Second))
	chunk := make([]byte, 1<<20)
	var werr error
	for range 256 { // far more than the sockets and the pipe hold
		if _, werr = c.Write(chunk); werr != nil {
			break
		}
	}
	if werr == nil {
		t.Fatal("256 MiB written to a target that reads nothing")
	}
	if d := time.Since(start); d > idle+10*time.Second {
		t.Errorf("writes failed after %s, want about %s past the last byte the target took", d, idle)
	}
	waitFor(t, "the idle close to be counted", func() bool { return f.routes[0].idleClosed.Load() == 1 })
	c.Close()
	(<-stuck).Close() // the target's side, opened after the baseline
	waitFDs(t, "self", baseline, 10*time.Second)
}

// A large message that a slow target takes over several idle timeouts, without ever stopping, is
// not idleness: it arrives whole and the target's answer comes back. (The target reads the last
// part at full speed: what the kernel's socket buffers still hold once the forwarder has read the
// last byte is not the forwarder's to time.)
func TestSlowTargetIsNotIdle(t *testing.T) {
	const idle = 300 * time.Millisecond
	const size, slowPart = 16 << 20, 8 << 20
	l := listen(t)
	got := make(chan int, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			got <- -1
			return
		}
		defer c.Close()
		n := 0
		buf := make([]byte, 64<<10)
		for n < size {
			m, err := c.Read(buf)
			n += m
			if err != nil {
				break
			}
			if n < slowPart {
				time.Sleep(5 * time.Millisecond) // about 12 MiB/s: the slow part takes 2 idle timeouts
			}
		}
		_, _ = c.Write([]byte("ok"))
		got <- n
	}()
	lim := testLimits
	lim.idleTimeout = idle
	f, addr := startForwarderWith(t, l.Addr().String(), lim, discardLogger())

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	start := time.Now()
	if _, err := c.Write(make([]byte, size)); err != nil {
		t.Fatalf("writing %d bytes to a slow target: %v", size, err)
	}
	answer := make([]byte, 2)
	if _, err := io.ReadFull(c, answer); err != nil {
		t.Errorf("reading the target's answer: %v", err)
	}
	n := <-got
	t.Logf("%d bytes taken in %s", n, time.Since(start).Round(time.Millisecond))
	if n != size {
		t.Errorf("the target got %d bytes, want %d", n, size)
	}
	if got := f.routes[0].idleClosed.Load(); got != 0 {
		t.Errorf("%d connections closed as idle, want 0", got)
	}
}

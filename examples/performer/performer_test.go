package main

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	performerv1 "github.com/Layr-Labs/protocol-apis/gen/protos/eigenlayer/hourglass/v1/performer"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/net/http2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"
)

// serve starts s on a loopback port and returns its address.
func serve(t *testing.T, s *grpc.Server) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.Serve(l) }()
	t.Cleanup(s.Stop)
	return l.Addr().String()
}

func dial(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// The task as the executor calls it, over real gRPC: the result is the payload squared, the task
// ID comes back, and a payload that is not a decimal integer is InvalidArgument naming the field.
func TestExecuteTask(t *testing.T) {
	client := performerv1.NewPerformerServiceClient(dial(t, serve(t, NewServer())))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	for payload, want := range map[string]string{
		"12":                   "144",
		" -3\n":                "9",
		"0":                    "0",
		"99999999999999999999": "9999999999999999999800000000000000000001",
	} {
		resp, err := client.ExecuteTask(ctx, &performerv1.TaskRequest{TaskId: []byte("task-1"), Payload: []byte(payload)})
		if err != nil {
			t.Fatalf("ExecuteTask(%q): %v", payload, err)
		}
		got := []string{string(resp.GetTaskId()), string(resp.GetResult())}
		if diff := cmp.Diff([]string{"task-1", want}, got); diff != "" {
			t.Errorf("ExecuteTask(%q): task ID, result (-want +got):\n%s", payload, diff)
		}
	}

	for _, payload := range []string{"", "twelve", "1.5", strings.Repeat("9", MaxPayload+1)} {
		_, err := client.ExecuteTask(ctx, &performerv1.TaskRequest{TaskId: []byte("task-2"), Payload: []byte(payload)})
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), "payload") {
			t.Errorf("ExecuteTask(%.20q): got %v, want InvalidArgument naming the payload", payload, err)
		}
	}

	if _, err := client.StartSync(ctx, &performerv1.StartSyncRequest{}); err != nil {
		t.Errorf("StartSync: %v", err)
	}
}

// The standard health service answers SERVING for the server and for the performer service, as
// a grpc_health_probe or a Kubernetes gRPC probe asks.
func TestHealth(t *testing.T) {
	client := healthpb.NewHealthClient(dial(t, serve(t, NewServer())))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, svc := range []string{"", performerv1.PerformerService_ServiceDesc.ServiceName} {
		resp, err := client.Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
		if err != nil {
			t.Fatalf("Check(%q): %v", svc, err)
		}
		if diff := cmp.Diff(healthpb.HealthCheckResponse_SERVING, resp.GetStatus()); diff != "" {
			t.Errorf("Check(%q) (-want +got):\n%s", svc, diff)
		}
	}
}

// The executor pings every 10 s with no call in flight. The production policy must accept that
// interval: MinTime at most the executor's and pings without streams permitted.
func TestKeepalivePolicyAcceptsExecutorPings(t *testing.T) {
	const executorPingInterval = 10 * time.Second // the executor's keepalive.ClientParameters.Time
	if KeepalivePolicy.MinTime > executorPingInterval || !KeepalivePolicy.PermitWithoutStream {
		t.Fatalf("KeepalivePolicy %+v refuses pings every %s without streams", KeepalivePolicy, executorPingInterval)
	}
}

// The policy at work, on a time scale of its own so the test is quick: a client that pings an
// idle connection every MinTime, as the executor does every 10 s, gets no GOAWAY from a server
// with the performer's policy; the same pings to a server with gRPC's default enforcement end in
// a too_many_pings GOAWAY (which the executor meets after about 40 s at its real interval).
func TestKeepalivePings(t *testing.T) {
	const minTime = 300 * time.Millisecond
	const pings = 8

	accepting := serve(t, newServer(keepalive.EnforcementPolicy{MinTime: minTime, PermitWithoutStream: true}))
	// A little over MinTime, as a real client's timer fires: the server measures the gap between
	// arrivals, and two loopback writes can arrive closer than they were sent.
	interval := minTime + 100*time.Millisecond
	if goAway := pingIdle(t, accepting, interval, pings); goAway != "" {
		t.Errorf("performer policy: %d pings %s apart got %s", pings, minTime, goAway)
	}

	strict := serve(t, grpc.NewServer())
	if goAway := pingIdle(t, strict, interval, pings); goAway != "GOAWAY ENHANCE_YOUR_CALM too_many_pings" {
		t.Errorf("gRPC's default policy: got %q, want a too_many_pings GOAWAY (the test no longer shows the difference)", goAway)
	}
}

// pingIdle opens an HTTP/2 connection with no stream on it, as a gRPC client between calls, and
// sends n PING frames every interval (the gRPC client refuses intervals under 10 s, hence raw
// frames). It returns the GOAWAY the server sent, if any, within one interval after the last ping.
func pingIdle(t *testing.T, addr string, interval time.Duration, n int) string {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(conn, conn)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	frames := make(chan string, 1)
	go func() {
		for {
			f, err := fr.ReadFrame()
			if err != nil {
				frames <- "connection ended: " + err.Error()
				return
			}
			switch f := f.(type) {
			case *http2.GoAwayFrame:
				frames <- "GOAWAY " + f.ErrCode.String() + " " + string(f.DebugData())
				return
			case *http2.SettingsFrame:
				if !f.IsAck() {
					_ = fr.WriteSettingsAck()
				}
			}
		}
	}()
	for i := range n {
		if err := fr.WritePing(false, [8]byte{byte(i)}); err != nil {
			return "writing ping: " + err.Error()
		}
		select {
		case got := <-frames:
			return got
		case <-time.After(interval):
		}
	}
	return ""
}

// The server listens on GRPC_PORT, which the controller sets to the Performer's port, else on 8080.
func TestDefaultAddr(t *testing.T) {
	t.Setenv("GRPC_PORT", "")
	if got := defaultAddr(); got != ":8080" {
		t.Errorf("without GRPC_PORT: %q, want :8080", got)
	}
	t.Setenv("GRPC_PORT", "9090")
	if got := defaultAddr(); got != ":9090" {
		t.Errorf("GRPC_PORT=9090: %q, want :9090", got)
	}
}

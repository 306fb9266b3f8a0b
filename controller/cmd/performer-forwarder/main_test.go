package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/hourglass-gitops/hourglass-gitops/test/framework/process"
)

// The program as the sidecar runs it: flags, one log line per route and none per connection,
// health endpoints, a small footprint under load, and a clean exit on SIGTERM.
func TestBinary(t *testing.T) {
	bin := process.Build(t, "./controller/cmd/performer-forwarder")
	l1, l2 := listen(t), listen(t)
	grpcServer(t, l1)
	grpcServer(t, l2)
	route1, route2, healthAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	fwd := process.Start(t, bin, nil,
		"--route="+route1+"="+l1.Addr().String(),
		"--route="+route2+"=localhost:"+port(l2.Addr().String()),
		"--health-addr="+healthAddr,
	)

	waitFor(t, "/readyz to answer 200", func() bool { return httpStatus("http://"+healthAddr+"/readyz") == 200 })
	if code := httpStatus("http://" + healthAddr + "/healthz"); code != 200 {
		t.Errorf("/healthz answered %d", code)
	}
	startupLines := len(logLines(t, fwd.Log()))

	// Many connections, each a new gRPC client, on both routes at once.
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := range 100 {
		addr := route1
		if i%2 == 1 {
			addr = route2
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			cc := dial(t, addr)
			defer cc.Close()
			if _, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("Check through the forwarder: %v", err)
	}
	rss := rssKiB(t, fwd.Cmd.Process.Pid)
	t.Logf("resident memory after 100 connections: %d KiB", rss)
	if rss > 32*1024 {
		t.Errorf("resident memory %d KiB after 100 connections, want under 32 MiB", rss)
	}

	if err := fwd.Stop(); err != nil {
		t.Errorf("exit after SIGTERM: %v", err)
	}

	lines := logLines(t, fwd.Log())
	var got []string
	for _, l := range lines {
		got = append(got, l["level"].(string)+" "+l["msg"].(string)+" "+str(l["listen"])+" "+str(l["target"]))
	}
	want := []string{
		"INFO forwarding " + route1 + " " + l1.Addr().String(),
		"INFO forwarding " + route2 + " localhost:" + port(l2.Addr().String()),
		"INFO ready  ",
		"INFO shutting down  ",
		"INFO stopped  ",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("log lines (level msg listen target) (-want +got):\n%s", diff)
	}
	if startupLines != 3 {
		t.Errorf("%d log lines at startup, want 3 (one per route, then ready)", startupLines)
	}
}

func TestBinaryRefusesBadInput(t *testing.T) {
	bin := process.Build(t, "./controller/cmd/performer-forwarder")
	taken := listen(t)
	defer taken.Close()
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--route=127.0.0.1:9101"}, 2, `performer-forwarder: invalid value "127.0.0.1:9101" for flag -route: want LISTEN=TARGET`},
		{[]string{"--route=" + taken.Addr().String() + "=perf:9090", "--health-addr=127.0.0.1:0"}, 1, `"error":"--route ` + taken.Addr().String() + `=perf:9090: listen tcp ` + taken.Addr().String() + `: bind: address already in use"`},
		{[]string{"--route=127.0.0.1:0=perf:9090"}, 2, `listen address: "127.0.0.1:0": port must be a number from 1 to 65535`},
		{[]string{"--route=" + freeAddr(t) + "=perf:9090", "--health-addr=" + taken.Addr().String()}, 1, `"error":"--health-addr ` + taken.Addr().String() + `: listen tcp ` + taken.Addr().String() + `: bind: address already in use"`},
	} {
		cmd := exec.Command(bin, tc.args...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		if code != tc.code || !strings.Contains(out.String(), tc.want) {
			t.Errorf("%q: exit %d, output:\n%s\nwant exit %d and %s", tc.args, code, out.String(), tc.code, tc.want)
		}
	}
}

func logLines(t *testing.T, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", sc.Text())
		}
		out = append(out, m)
	}
	return out
}

func str(v any) string {
	if v == nil {
		return ""
	}
	return v.(string)
}

func freeAddr(t *testing.T) string {
	l := listen(t)
	defer l.Close()
	return l.Addr().String()
}

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

func httpStatus(url string) int {
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func rssKiB(t *testing.T, pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	t.Fatal("no VmRSS in /proc status")
	return 0
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

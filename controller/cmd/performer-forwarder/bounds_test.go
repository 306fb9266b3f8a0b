package main

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hourglass-gitops/hourglass-gitops/test/framework/process"
)

// echoServer answers every connection with what it reads, through a buffer (io.Copy would splice,
// and hold pipes of its own in the test's count of descriptors), and closes it at the client's end.
func echoServer(t *testing.T) net.Listener {
	t.Helper()
	l := listen(t)
	var conns sync.WaitGroup
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns.Go(func() {
				defer c.Close()
				buf := make([]byte, 4<<10)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						if _, err := c.Write(buf[:n]); err != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			})
		}
	}()
	t.Cleanup(func() { l.Close(); conns.Wait() })
	return l
}

// echoes writes msg on c and tells whether it came back whole.
func echoes(c net.Conn, msg []byte) bool {
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := c.Write(msg); err != nil {
		return false
	}
	got := make([]byte, len(msg))
	_, err := io.ReadFull(c, got)
	return err == nil && bytes.Equal(got, msg)
}

// dialAll opens n connections to addr at once, each trying one echo of msg, and returns those that
// were echoed and how many were closed instead.
func dialAll(t *testing.T, addr string, n int, msg []byte) (held []net.Conn, closed int) {
	t.Helper()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			c, err := net.DialTimeout("tcp", addr, 20*time.Second)
			if errors.Is(err, syscall.ECONNRESET) {
				// Reset before the connect returned.
				mu.Lock()
				closed++
				mu.Unlock()
				return
			}
			if err != nil {
				t.Errorf("dial %s: %v", addr, err)
				return
			}
			ok := echoes(c, msg)
			mu.Lock()
			defer mu.Unlock()
			if ok {
				held = append(held, c)
				return
			}
			closed++
			c.Close()
		})
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, c := range held {
			c.Close()
		}
	})
	return held, closed
}

func closeAll(conns []net.Conn) {
	for _, c := range conns {
		c.Close()
	}
}

// fds counts the open descriptors of a process ("self" for this one).
func fds(t *testing.T, pid string) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/" + pid + "/fd")
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	return len(ents)
}

// waitFDs waits until pid has at most want descriptors and returns how long that took.
func waitFDs(t *testing.T, pid string, want int, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		n := fds(t, pid)
		if n <= want {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("%d descriptors %s after the clients left, want at most %d", n, within, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Ten times the cap of connections at once: the cap is forwarded, the rest are reset and counted,
// and every descriptor is released once the clients leave.
func TestRouteConnectionCap(t *testing.T) {
	const maxConns = 32
	target := echoServer(t)
	lim := testLimits
	lim.maxConns = maxConns
	f, addr := startForwarderWith(t, target.Addr().String(), lim, discardLogger())
	baseline := fds(t, "self")

	held, closed := dialAll(t, addr, 10*maxConns, bytes.Repeat([]byte("x"), 20<<10))
	if len(held) != maxConns || closed != 9*maxConns {
		t.Errorf("%d connections forwarded and %d closed, want %d and %d", len(held), closed, maxConns, 9*maxConns)
	}
	r := f.routes[0]
	if got := r.refused.Load(); got != 9*maxConns {
		t.Errorf("%d connections counted as refused, want %d", got, 9*maxConns)
	}
	peak := fds(t, "self")
	closeAll(held)
	took := waitFDs(t, "self", baseline, 10*time.Second)
	t.Logf("%d connections tried against a cap of %d: %d descriptors in this process at the peak (client, forwarder and target sides), back to %d in %s",
		10*maxConns, maxConns, peak, baseline, took.Round(time.Millisecond))
	if n := r.open.Load(); n != 0 {
		t.Errorf("%d connections still counted open", n)
	}
}

// A connection quiet both ways for the idle timeout is closed; one where only one side sends is
// not.
func TestIdleTimeout(t *testing.T) {
	const idle = 300 * time.Millisecond
	target := echoServer(t)
	sink := listen(t)
	go func() {
		for {
			c, err := sink.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(io.Discard, c) }()
		}
	}()
	lim := testLimits
	lim.idleTimeout = idle
	f, addr := startForwarderWith(t, target.Addr().String(), lim, discardLogger())
	_, sinkAddr := startForwarderWith(t, sink.Addr().String(), lim, discardLogger())

	quiet, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer quiet.Close()
	if !echoes(quiet, []byte("hello")) {
		t.Fatal("no echo")
	}
	start := time.Now()
	_ = quiet.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := quiet.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("read on an idle connection = %v, want EOF", err)
	}
	if d := time.Since(start); d < idle-50*time.Millisecond || d > idle+3*time.Second {
		t.Errorf("closed after %s of quiet, want about %s", d, idle)
	}
	waitFor(t, "the idle close to be counted", func() bool { return f.routes[0].idleClosed.Load() == 1 })

	// Only the client sends, for four idle timeouts: the answering side's silence is not idleness.
	oneWay, err := net.Dial("tcp", sinkAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer oneWay.Close()
	for range 12 {
		if _, err := oneWay.Write([]byte("tick")); err != nil {
			t.Fatalf("a connection sending every %s was closed: %v", idle/3, err)
		}
		time.Sleep(idle / 3)
	}
	_ = oneWay.SetReadDeadline(time.Now().Add(idle / 3))
	if _, err := oneWay.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("read on a connection in use = %v, want it still open", err)
	}
}

// However many connections arrive, the health endpoint holds at most its cap, and the kubelet's
// probe, which sends its request at once, is still answered.
func TestHealthConnectionCap(t *testing.T) {
	const maxConns = 4
	h, err := startHealth("127.0.0.1:0", maxConns, func() bool { return true }, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	var silent []net.Conn
	defer func() { closeAll(silent) }()
	for range 10 * maxConns {
		c, err := net.Dial("tcp", h.Addr)
		if err != nil {
			t.Fatal(err)
		}
		silent = append(silent, c)
	}
	waitFor(t, "the silent connections to be accepted", func() bool { return h.lim.evicted.Load() == 9*maxConns })
	if n := h.lim.open(); n > maxConns {
		t.Errorf("%d connections held, want at most %d", n, maxConns)
	}
	start := time.Now()
	client := http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get("http://" + h.Addr + "/healthz")
	if err != nil {
		t.Fatalf("probe during the flood: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("probe during the flood: %d", resp.StatusCode)
	}
	t.Logf("probe answered in %s with %d silent connections tried against a cap of %d",
		time.Since(start).Round(time.Microsecond), 10*maxConns, maxConns)
	// The silent connections that were evicted were closed.
	closedSeen := 0
	for _, c := range silent {
		_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			closedSeen++
		}
	}
	if closedSeen < 9*maxConns {
		t.Errorf("%d silent connections closed, want at least %d", closedSeen, 9*maxConns)
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// The program with its default bounds, as the sidecar runs it: ten times the route's cap of
// connections at once, each forwarded one carrying 16 KiB both ways, and a flood of silent
// connections on the health port. Its memory stays under the sidecar's 64Mi limit, the probe is
// answered, and its descriptors return to where they were once the clients leave.
func TestBinaryBounds(t *testing.T) {
	bin := process.Build(t, "./controller/cmd/performer-forwarder")
	target := echoServer(t)
	route, healthAddr := freeAddr(t), freeAddr(t)
	cmd := process.Start(t, bin, nil, "--route="+route+"="+target.Addr().String(), "--health-addr="+healthAddr).Cmd
	pid := strconv.Itoa(cmd.Process.Pid)
	waitFor(t, "/readyz to answer 200", func() bool { return httpStatus("http://"+healthAddr+"/readyz") == 200 })
	baseline, startRSS := fds(t, pid), rssKiB(t, cmd.Process.Pid)

	const tried = 10 * defaultMaxConnections
	held, closed := dialAll(t, route, tried, bytes.Repeat([]byte("x"), 16<<10))
	if len(held) != defaultMaxConnections || closed != tried-defaultMaxConnections {
		t.Errorf("%d connections forwarded and %d closed, want %d and %d", len(held), closed, defaultMaxConnections, tried-defaultMaxConnections)
	}
	const silent = 2000
	var flood []net.Conn
	defer func() { closeAll(flood) }()
	for range silent {
		c, err := net.Dial("tcp", healthAddr)
		if err != nil {
			continue // reset before the connect returned
		}
		flood = append(flood, c)
	}
	if code := httpStatus("http://" + healthAddr + "/healthz"); code != 200 {
		t.Errorf("/healthz answered %d during the flood", code)
	}
	peakFDs := fds(t, pid)
	rss, hwm := rssKiB(t, cmd.Process.Pid), procStatusKiB(t, cmd.Process.Pid, "VmHWM:")
	t.Logf("%d route connections tried against a cap of %d (16 KiB echoed on each forwarded one) and %d silent health connections against a cap of %d: "+
		"%d descriptors (%d at rest), resident memory %d KiB, peak %d KiB (%d KiB at rest)",
		tried, defaultMaxConnections, silent, defaultHealthMaxConnections, peakFDs, baseline, rss, hwm, startRSS)
	if hwm > 64*1024 {
		t.Errorf("peak resident memory %d KiB, want under the sidecar's 64 MiB limit", hwm)
	}
	if max := baseline + 2*defaultMaxConnections + defaultHealthMaxConnections + 16; peakFDs > max {
		t.Errorf("%d descriptors at the peak, want at most %d", peakFDs, max)
	}
	closeAll(held)
	closeAll(flood)
	took := waitFDs(t, pid, baseline, 10*time.Second)
	t.Logf("descriptors back to %d %s after the clients left", baseline, took.Round(time.Millisecond))
}

func procStatusKiB(t *testing.T, pid int, field string) int {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == field {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	t.Fatalf("no %s in /proc status", field)
	return 0
}

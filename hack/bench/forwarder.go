package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	performerv1 "github.com/Layr-Labs/protocol-apis/gen/protos/eigenlayer/hourglass/v1/performer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// forwarderBench measures what the performer-forwarder adds between the executor and a performer:
// the sample performer (examples/performer) and the forwarder run as built binaries on loopback,
// and one client calls the performer directly and through the forwarder in alternating rounds,
// so both paths see the same machine load.
//
// Latency: sequential unary ExecuteTask calls with a small payload; each clock starts right before
// the client's ExecuteTask call and stops when it returns with the decoded response.
// Throughput: StartSync calls carrying 1 MiB payloads from `streams` concurrent callers on one
// connection; the clock starts before the first call of a round and stops when the last returns.
// The ratio to direct is taken per round (the rounds of both paths run back to back) and its
// median and range are printed, so that load drifting across the run does not bias it. The CPU
// time (user+system) of the client (this process, getrusage), the performer and the relay
// (/proc/PID/stat) is read before and after each bulk round and printed as cores busy during it.
//
// socat, where installed, runs as a third path: a plain user-space TCP relay to compare with.
func forwarderBench(ctx context.Context, root, work string, calls, mib, streams, rounds int) error {
	paths, performer, stop, err := startForwarderPair(ctx, root, work)
	if err != nil {
		return err
	}
	defer stop()
	// Warm up both paths: connections, HTTP/2 windows, the performer's code paths.
	for _, p := range paths {
		if _, err := unary(ctx, p.client, 200); err != nil {
			return err
		}
		if _, err := bulk(ctx, p.client, 1<<20, streams, streams*4); err != nil {
			return err
		}
	}
	m, err := measurePaths(ctx, performer, paths, calls, mib, streams, rounds)
	if err != nil {
		return err
	}
	fmt.Printf("\nperformer-forwarder on loopback, sample performer as the server (%d unary calls and %d MiB per path, %d rounds, order rotating)\n",
		calls/rounds*rounds, mib/rounds*rounds, rounds)
	fmt.Printf("  %-10s %10s %10s %14s %22s %16s\n", "path", "median", "p99", "1 MiB msgs", "of direct (min–max)", "relay CPU")
	for _, p := range paths {
		ratio, cpu := "", ""
		if p.name != "direct" {
			r := m.ratios(p.name)
			ratio = fmt.Sprintf("%.0f %% (%.0f–%.0f)", 100*medianF(r), 100*slices.Min(r), 100*slices.Max(r))
		}
		if p.pid != 0 {
			cpu = fmt.Sprintf("%.2f ms/MiB", medianF(m.relayCPUPerMiB(p.name)))
		}
		fmt.Printf("  %-10s %10s %10s %11.0f MiB/s %22s %16s\n", p.name, us(pct(m.lat[p.name], 50)), us(pct(m.lat[p.name], 99)),
			medianF(m.tput[p.name]), ratio, cpu)
	}
	fmt.Printf("  added by the forwarder: median %s (target ≤ 100 µs), p99 %s; throughput %.0f %% of direct (target ≥ 90 %%)\n",
		us(pct(m.lat["forwarder"], 50)-pct(m.lat["direct"], 50)), us(pct(m.lat["forwarder"], 99)-pct(m.lat["direct"], 99)),
		100*medianF(m.ratios("forwarder")))
	fmt.Printf("  cores busy during the 1 MiB rounds (median), client / performer / relay:")
	for _, p := range paths {
		c := m.cores[p.name]
		fmt.Printf(" %s %.2f / %.2f / %.2f;", p.name, medianF(c[0]), medianF(c[1]), medianF(c[2]))
	}
	fmt.Println()
	return nil
}

// benchPath is one way to the performer: direct, or through a relay whose process is pid.
type benchPath struct {
	name   string
	client performerv1.PerformerServiceClient
	pid    int
}

// startForwarderPair builds and starts the sample performer, a forwarder in front of it and, where
// installed, socat, and dials each path. It returns the performer's process ID; stop stops the
// processes.
func startForwarderPair(ctx context.Context, root, work string) (paths []benchPath, performer int, stop func(), err error) {
	perfBin, err := goBuild(ctx, root, work, "./examples/performer", "performer")
	if err != nil {
		return nil, 0, nil, err
	}
	fwdBin, err := goBuild(ctx, root, work, "./controller/cmd/performer-forwarder", "performer-forwarder")
	if err != nil {
		return nil, 0, nil, err
	}
	var addrs [3]string
	for i := range addrs {
		if addrs[i], err = freeAddr(); err != nil {
			return nil, 0, nil, err
		}
	}
	perfAddr, routeAddr, healthAddr := addrs[0], addrs[1], addrs[2]
	perf, err := start(ctx, perfBin, "--addr="+perfAddr)
	if err != nil {
		return nil, 0, nil, err
	}
	fwd, err := start(ctx, fwdBin, "--route="+routeAddr+"="+perfAddr, "--health-addr="+healthAddr, "--log-level=warn")
	if err != nil {
		perf.stop()
		return nil, 0, nil, err
	}
	stops := []func(){fwd.stop, perf.stop}
	stop = func() {
		for _, s := range stops {
			s()
		}
	}
	defer func() {
		if err != nil {
			stop()
		}
	}()
	if err := waitReady(ctx, "http://"+healthAddr+"/readyz"); err != nil {
		return nil, 0, nil, fmt.Errorf("forwarder: %w", err)
	}
	direct, err := dialPerformer(perfAddr)
	if err != nil {
		return nil, 0, nil, err
	}
	forwarded, err := dialPerformer(routeAddr)
	if err != nil {
		return nil, 0, nil, err
	}
	paths = []benchPath{{"direct", direct, 0}, {"forwarder", forwarded, fwd.pid}}
	if bin, err := exec.LookPath("socat"); err == nil {
		addr, err := freeAddr()
		if err != nil {
			return nil, 0, nil, err
		}
		// Its best settings for this traffic: no Nagle delay, 64 KiB reads.
		s, err := start(ctx, bin, "-b", "65536", "TCP-LISTEN:"+portOf(addr)+",bind=127.0.0.1,reuseaddr,fork,nodelay", "TCP:"+perfAddr+",nodelay")
		if err != nil {
			return nil, 0, nil, err
		}
		stops = append(stops, s.stop)
		relayed, err := dialPerformer(addr)
		if err != nil {
			return nil, 0, nil, err
		}
		paths = append(paths, benchPath{"socat", relayed, s.pid})
	} else {
		fmt.Println("performer-forwarder: socat not installed, no plain relay to compare with")
	}
	return paths, perf.pid, stop, nil
}

// portOf is the port of a host:port address.
func portOf(addr string) string {
	_, port, _ := net.SplitHostPort(addr)
	return port
}

// measured is what measurePaths saw: per path, call latencies, and per bulk round the throughput
// (MiB/s) and the cores the client, the performer and the relay kept busy.
type measured struct {
	lat   map[string][]time.Duration
	tput  map[string][]float64
	cores map[string]*[3][]float64
}

// relayCPUPerMiB is the relay's CPU milliseconds per MiB moved, round by round: its busy cores
// over the round's MiB per second.
func (m measured) relayCPUPerMiB(path string) []float64 {
	var out []float64
	for i, c := range m.cores[path][2] {
		out = append(out, 1000*c/m.tput[path][i])
	}
	return out
}

// ratios is path's throughput over direct's, round by round.
func (m measured) ratios(path string) []float64 {
	var r []float64
	for i, t := range m.tput[path] {
		r = append(r, t/m.tput["direct"][i])
	}
	return r
}

// measurePaths runs the rounds, rotating which path goes first.
func measurePaths(ctx context.Context, performer int, paths []benchPath, calls, mib, streams, rounds int) (measured, error) {
	m := measured{lat: map[string][]time.Duration{}, tput: map[string][]float64{}, cores: map[string]*[3][]float64{}}
	for _, p := range paths {
		m.cores[p.name] = &[3][]float64{}
	}
	for r := range rounds {
		for i := range paths {
			p := paths[(r+i)%len(paths)]
			d, err := unary(ctx, p.client, calls/rounds)
			if err != nil {
				return m, fmt.Errorf("%s: %w", p.name, err)
			}
			m.lat[p.name] = append(m.lat[p.name], d...)
			before := [3]time.Duration{selfCPU(), cpuTime(performer), cpuTime(p.pid)}
			t0 := time.Now()
			rate, err := bulk(ctx, p.client, 1<<20, streams, mib/rounds)
			if err != nil {
				return m, fmt.Errorf("%s: %w", p.name, err)
			}
			wall := time.Since(t0)
			after := [3]time.Duration{selfCPU(), cpuTime(performer), cpuTime(p.pid)}
			for i := range after {
				m.cores[p.name][i] = append(m.cores[p.name][i], float64(after[i]-before[i])/float64(wall))
			}
			m.tput[p.name] = append(m.tput[p.name], rate)
		}
	}
	return m, nil
}

// cpuTime is the user and system time pid and its live child processes have used (socat serves
// each connection in a child), read from /proc; 0 where that cannot be read.
func cpuTime(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	var total time.Duration
	for _, p := range append([]int{pid}, children(pid)...) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			continue
		}
		// Fields after the command's closing parenthesis: utime and stime are the 12th and 13th.
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) < 13 {
			continue
		}
		for _, s := range f[11:13] {
			ticks, _ := strconv.Atoi(s)
			total += time.Duration(ticks) * time.Second / clockTicks
		}
	}
	return total
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times: 100 on every Linux architecture Go
// supports.
const clockTicks = 100

// children lists pid's child processes.
func children(pid int) []int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return nil
	}
	var out []int
	for _, s := range strings.Fields(string(b)) {
		if c, err := strconv.Atoi(s); err == nil {
			out = append(out, c)
		}
	}
	return out
}

// unary makes n sequential ExecuteTask calls and returns the latency of each.
func unary(ctx context.Context, c performerv1.PerformerServiceClient, n int) ([]time.Duration, error) {
	out := make([]time.Duration, 0, n)
	req := &performerv1.TaskRequest{TaskId: []byte("bench"), Payload: []byte("12")}
	for range n {
		t0 := time.Now()
		resp, err := c.ExecuteTask(ctx, req)
		d := time.Since(t0)
		if err != nil {
			return nil, err
		}
		if string(resp.GetResult()) != "144" {
			return nil, fmt.Errorf("ExecuteTask(12) = %q, want 144", resp.GetResult())
		}
		out = append(out, d)
	}
	return out, nil
}

// bulk sends n StartSync calls of size bytes from streams callers and returns MiB/s.
func bulk(ctx context.Context, c performerv1.PerformerServiceClient, size, streams, n int) (float64, error) {
	payload := make([]byte, size)
	jobs := make(chan struct{}, n)
	for range n {
		jobs <- struct{}{}
	}
	close(jobs)
	var wg sync.WaitGroup
	errs := make(chan error, streams)
	t0 := time.Now()
	for range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				if _, err := c.StartSync(ctx, &performerv1.StartSyncRequest{Payload: payload}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	d := time.Since(t0)
	select {
	case err := <-errs:
		return 0, err
	default:
	}
	return float64(n*size) / (1 << 20) / d.Seconds(), nil
}

// dialPerformer connects a performer client to addr without TLS.
func dialPerformer(addr string) (performerv1.PerformerServiceClient, error) {
	// WaitForReady: the performer process may still be starting on a busy machine.
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.WaitForReady(true)))
	if err != nil {
		return nil, err
	}
	return performerv1.NewPerformerServiceClient(conn), nil
}

// started is a process start began; stop kills it and waits for it.
type started struct {
	pid  int
	stop func()
}

// start starts binary bin with args.
func start(ctx context.Context, bin string, args ...string) (started, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return started{}, err
	}
	return started{cmd.Process.Pid, func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }}, nil
}

// waitReady waits up to 30 seconds for url to answer 200.
func waitReady(ctx context.Context, url string) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s not ready within 30s", url)
}

// pct is the p-th percentile of xs.
func pct(xs []time.Duration, p int) time.Duration {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[(len(s)-1)*p/100]
}

// medianF is the median of xs.
func medianF(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// us shows d in microseconds.
func us(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d.Nanoseconds())/1000) }

// selfCPU is the user and system time of this process, the bench's client.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

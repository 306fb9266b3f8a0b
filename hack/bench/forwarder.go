package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"sync"
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
func forwarderBench(ctx context.Context, root, work string, calls, mib, streams, rounds int) error {
	paths, stop, err := startForwarderPair(ctx, root, work)
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
	lat, tput, err := measurePaths(ctx, paths, calls, mib, streams, rounds)
	if err != nil {
		return err
	}
	fmt.Printf("\nperformer-forwarder on loopback, sample performer as the server (%d unary calls and %d MiB per path, %d rounds alternating)\n",
		calls/rounds*rounds, mib/rounds*rounds, rounds)
	fmt.Printf("  %-10s %10s %10s %14s\n", "path", "median", "p99", "1 MiB msgs")
	for _, p := range paths {
		fmt.Printf("  %-10s %10s %10s %11.0f MiB/s\n", p.name, us(pct(lat[p.name], 50)), us(pct(lat[p.name], 99)), medianF(tput[p.name]))
	}
	fmt.Printf("  added by the forwarder: median %s (target ≤ 100 µs), p99 %s; throughput %.0f %% of direct (target ≥ 90 %%)\n",
		us(pct(lat["forwarder"], 50)-pct(lat["direct"], 50)), us(pct(lat["forwarder"], 99)-pct(lat["direct"], 99)),
		100*medianF(tput["forwarder"])/medianF(tput["direct"]))
	return nil
}

// benchPath is one way to the performer: direct, or through the forwarder.
type benchPath struct {
	name   string
	client performerv1.PerformerServiceClient
}

// startForwarderPair builds and starts the sample performer and a forwarder in front of it, and
// dials both. stop stops the two processes.
func startForwarderPair(ctx context.Context, root, work string) (paths []benchPath, stop func(), err error) {
	perfBin, err := goBuild(ctx, root, work, "./examples/performer", "performer")
	if err != nil {
		return nil, nil, err
	}
	fwdBin, err := goBuild(ctx, root, work, "./controller/cmd/performer-forwarder", "performer-forwarder")
	if err != nil {
		return nil, nil, err
	}
	var addrs [3]string
	for i := range addrs {
		if addrs[i], err = freeAddr(); err != nil {
			return nil, nil, err
		}
	}
	perfAddr, routeAddr, healthAddr := addrs[0], addrs[1], addrs[2]
	stopPerf, err := start(ctx, perfBin, "--addr="+perfAddr)
	if err != nil {
		return nil, nil, err
	}
	stopFwd, err := start(ctx, fwdBin, "--route="+routeAddr+"="+perfAddr, "--health-addr="+healthAddr, "--log-level=warn")
	if err != nil {
		stopPerf()
		return nil, nil, err
	}
	stop = func() { stopFwd(); stopPerf() }
	defer func() {
		if err != nil {
			stop()
		}
	}()
	if err := waitReady(ctx, "http://"+healthAddr+"/readyz"); err != nil {
		return nil, nil, fmt.Errorf("forwarder: %w", err)
	}
	direct, err := dialPerformer(perfAddr)
	if err != nil {
		return nil, nil, err
	}
	forwarded, err := dialPerformer(routeAddr)
	if err != nil {
		return nil, nil, err
	}
	return []benchPath{{"direct", direct}, {"forwarder", forwarded}}, stop, nil
}

// measurePaths runs the rounds, alternating which path goes first, and returns each path's call
// latencies and bulk throughputs.
func measurePaths(ctx context.Context, paths []benchPath, calls, mib, streams, rounds int) (map[string][]time.Duration, map[string][]float64, error) {
	lat := map[string][]time.Duration{}
	tput := map[string][]float64{}
	for r := range rounds {
		for i := range paths {
			p := paths[(r+i)%2] // alternate which path goes first
			d, err := unary(ctx, p.client, calls/rounds)
			if err != nil {
				return nil, nil, fmt.Errorf("%s: %w", p.name, err)
			}
			lat[p.name] = append(lat[p.name], d...)
			rate, err := bulk(ctx, p.client, 1<<20, streams, mib/rounds)
			if err != nil {
				return nil, nil, fmt.Errorf("%s: %w", p.name, err)
			}
			tput[p.name] = append(tput[p.name], rate)
		}
	}
	return lat, tput, nil
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

// start starts binary bin with args; the returned function kills it and waits for it.
func start(ctx context.Context, bin string, args ...string) (func(), error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }, nil
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

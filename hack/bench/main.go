// Command bench measures the Performer controller against the floor of the cluster it runs on, and
// the KRM function against a function that does nothing.
//
// On a local control plane with KWOK nodes (hack/local-cluster.sh, its audit log on) it runs, one
// after the other at the same N:
//   - the raw bound: a client that itself applies, patches and deletes exactly the Deployments and
//     Services the controller would make for N Performers, as fast as the API server lets it;
//   - the controller, as a local process, driven through N Performers.
//
// and prints both side by side with ratios, the controller's API writes by verb and resource (from
// the audit log), every client's requests per phase (the cluster's components included), the
// controller's writes while idle, its peak RSS and CPU time and its log volume. Then it times
// the function binary as a whole process against a no-op kyaml function that reads and writes the
// same ResourceList, and the performer-forwarder's added latency and throughput against a direct
// connection to the sample performer (forwarder.go).
//
//	go run ./hack/bench -n 200        (make bench; N=1000 make bench)
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/hourglass-gitops/hourglass-gitops/test/framework/repo"
)

func main() {
	n := flag.Int("n", 200, "number of Performers")
	idle := flag.Duration("idle", time.Minute, "how long to count the controller's writes once everything converged")
	skipCluster := flag.Bool("skip-cluster", false, "only the function benchmark")
	skipFunction := flag.Bool("skip-function", false, "only the cluster benchmark")
	runs := flag.Int("runs", 7, "runs of each function process (the median is printed)")
	ctrlBin := flag.String("controller-bin", "", "a controller binary to measure instead of building ./controller (for before/after comparisons)")
	ctrlArgs := flag.String("controller-args", "", "extra flags for the controller, space-separated (e.g. \"--concurrent=4\")")
	skipForwarder := flag.Bool("skip-forwarder", false, "skip the performer-forwarder benchmark")
	fwdCalls := flag.Int("forwarder-calls", 6000, "unary calls per path in the forwarder benchmark")
	fwdMiB := flag.Int("forwarder-mib", 600, "MiB sent per path in 1 MiB messages in the forwarder benchmark")
	fwdStreams := flag.Int("forwarder-streams", 4, "concurrent callers of the 1 MiB messages")
	nodes := flag.Int("nodes", 0, "simulated nodes to add, sharing room for 2N pods (0: one per 250 Performers)")
	flag.IntVar(&workers, "workers", workers, "goroutines each side sends its requests from")
	flag.IntVar(&qps, "qps", qps, "client-side limit of the bench's own client, requests per second (burst twice that)")
	flag.BoolVar(&plainRaw, "raw-create", plainRaw, "also time a raw bound that creates the workloads and patches their image alone, as a plain client would")
	flag.BoolVar(&rawAfter, "raw-after", rawAfter, "time the applying raw bound again after the controller, on the cluster as the controller leaves it")
	restart := flag.Bool("restart", true, "restart the controller once idle and time how soon it has checked every workload (by its dry runs; false for builds that send none)")
	flag.Parse()

	root, err := repo.Root()
	if err != nil {
		fail(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Minute)
	defer cancel()
	work := filepath.Join(root, ".local", "bench")
	if err := os.MkdirAll(work, 0o755); err != nil {
		fail(err)
	}

	if !*skipCluster {
		if err := clusterBench(ctx, root, work, *n, *nodes, *idle, *restart, *ctrlBin, strings.Fields(*ctrlArgs)); err != nil {
			fail(err)
		}
	}
	if !*skipFunction {
		if err := functionBench(ctx, root, work, *runs); err != nil {
			fail(err)
		}
	}
	if !*skipForwarder {
		if err := forwarderBench(ctx, root, work, *fwdCalls, *fwdMiB, *fwdStreams, 6); err != nil {
			fail(err)
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}

// goBuild builds a package of the module into dir and returns the binary's path.
func goBuild(ctx context.Context, root, dir, pkg, name string) (string, error) {
	out := filepath.Join(dir, name)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", out, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	return out, nil
}

func ratio(a, b time.Duration) string {
	if b <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", a.Seconds()/b.Seconds())
}

func secs(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }

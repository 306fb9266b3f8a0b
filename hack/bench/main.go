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
// the audit log), its writes while idle, its peak RSS and CPU time and its log volume. Then it times
// the function binary as a whole process against a no-op kyaml function that reads and writes the
// same ResourceList, and the performer-forwarder's added latency and throughput against a direct
// connection to the sample performer (forwarder.go).
//
//	go run ./hack/bench -n 200        (make bench; N=1000 make bench)
package main

import (
	"bufio"
	"context"
	"encoding/json"
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
		if err := clusterBench(ctx, root, work, *n, *idle, *restart, *ctrlBin, strings.Fields(*ctrlArgs)); err != nil {
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

// auditWrites counts the writes in an audit log by verb and resource, for one user agent prefix,
// from line from on. It returns the counts and the number of lines read.
func auditWrites(path, agent string, from int) (map[string]int, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	counts := map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	line := 0
	for sc.Scan() {
		line++
		if line <= from {
			continue
		}
		var ev struct {
			Verb       string `json:"verb"`
			RequestURI string `json:"requestURI"`
			UserAgent  string `json:"userAgent"`
			ObjectRef  struct {
				Resource    string `json:"resource"`
				Subresource string `json:"subresource"`
			} `json:"objectRef"`
		}
		if json.Unmarshal(sc.Bytes(), &ev) != nil || !strings.HasPrefix(ev.UserAgent, agent) {
			continue
		}
		res := ev.ObjectRef.Resource
		if ev.ObjectRef.Subresource != "" {
			res += "/" + ev.ObjectRef.Subresource
		}
		verb := ev.Verb
		if strings.Contains(ev.RequestURI, "dryRun=") {
			verb = dryRunPrefix + verb
		}
		counts[verb+" "+res]++
	}
	return counts, line, sc.Err()
}

// dryRunPrefix marks the dry-run requests among the audited writes: the API server stores nothing.
const dryRunPrefix = "dry-run "

// dryRuns picks the dry runs out of counts.
func dryRuns(counts map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range counts {
		if strings.HasPrefix(k, dryRunPrefix) {
			out[k] = v
		}
	}
	return out
}

// total counts the writes in m, leaving out dry runs.
func total(m map[string]int) int {
	t := 0
	for k, v := range m {
		if !strings.HasPrefix(k, dryRunPrefix) {
			t += v
		}
	}
	return t
}

func ratio(a, b time.Duration) string {
	if b <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", a.Seconds()/b.Seconds())
}

func secs(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// gnuTime measures each process; Debian's package "time" installs it.
const gnuTime = "/usr/bin/time"

// sample is one whole-process run.
type sample struct {
	wall, cpu time.Duration
	rssKiB    int64
}

// functionBench times the function binary on declarations of several sizes against the no-op
// function fed the function's own output, so both parse and write the same ResourceList.
func functionBench(ctx context.Context, root, work string, runs int) error {
	bin := filepath.Join(work, "bin")
	fmt.Printf("bench: building the function and the no-op function\n")
	if _, err := os.Stat(gnuTime); err != nil {
		return fmt.Errorf("the function benchmark needs GNU time at %s (apt-get install time)", gnuTime)
	}
	fn, err := goBuild(ctx, root, bin, "./functions", "avs-executor-fn")
	if err != nil {
		return err
	}
	noop, err := goBuild(ctx, root, bin, "./hack/bench/noopfn", "noop-fn")
	if err != nil {
		return err
	}

	fmt.Printf("\n## Function start-up, whole process, median of %d runs\n\n", runs)
	// An empty ResourceList: the function refuses it (no declaration) after starting up, reading
	// and writing next to nothing, which is what start-up costs.
	empty := []byte("apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems: []\n")
	var fs, ns []sample
	for i := 0; i < runs; i++ {
		_, s, err := runProcessAllowFailure(ctx, fn, empty, true)
		if err != nil {
			return err
		}
		fs = append(fs, s)
		_, s, err = runProcess(ctx, noop, empty)
		if err != nil {
			return err
		}
		ns = append(ns, s)
	}
	f, o := median(fs), median(ns)
	fmt.Printf("| input | function wall | no-op wall | function CPU | no-op CPU | CPU ratio | function peak RSS | no-op peak RSS | RSS ratio |\n")
	fmt.Printf("|---|---|---|---|---|---|---|---|---|\n")
	fmt.Printf("| empty ResourceList | %s | %s | %s | %s | %.2f× | %.1f MiB | %.1f MiB | %.2f× |\n",
		ms(f.wall), ms(o.wall), ms(f.cpu), ms(o.cpu), f.cpu.Seconds()/o.cpu.Seconds(),
		float64(f.rssKiB)/1024, float64(o.rssKiB)/1024, float64(f.rssKiB)/float64(o.rssKiB))

	fmt.Printf("\n## Function, whole process, median of %d runs\n\n", runs)
	fmt.Printf("| AVSs | output | function wall | no-op wall | function CPU | no-op CPU | CPU ratio | function peak RSS | no-op peak RSS | RSS ratio |\n")
	fmt.Printf("|---|---|---|---|---|---|---|---|---|---|\n")
	for _, n := range []int{1, 10, 1000} {
		in := resourceList(declaration(n))
		out, _, err := runProcess(ctx, fn, in)
		if err != nil {
			return fmt.Errorf("function on %d AVSs: %w", n, err)
		}
		var fs, ns []sample
		for i := 0; i < runs; i++ {
			_, s, err := runProcess(ctx, fn, in)
			if err != nil {
				return err
			}
			fs = append(fs, s)
			_, s, err = runProcess(ctx, noop, out)
			if err != nil {
				return err
			}
			ns = append(ns, s)
		}
		f, o := median(fs), median(ns)
		fmt.Printf("| %d | %.1f KB | %s | %s | %s | %s | %.2f× | %.1f MiB | %.1f MiB | %.2f× |\n",
			n, float64(len(out))/1000, ms(f.wall), ms(o.wall), ms(f.cpu), ms(o.cpu),
			f.cpu.Seconds()/o.cpu.Seconds(), float64(f.rssKiB)/1024, float64(o.rssKiB)/1024,
			float64(f.rssKiB)/float64(o.rssKiB))
	}
	return nil
}

// runProcess runs bin on in under GNU time, which reports the process's own peak RSS: a child's
// rusage from Go would include the Go parent's resident set at fork time.
func runProcess(ctx context.Context, bin string, in []byte) ([]byte, sample, error) {
	return runProcessAllowFailure(ctx, bin, in, false)
}

// runProcessAllowFailure is runProcess; with allowFailure, a non-zero exit is no error.
func runProcessAllowFailure(ctx context.Context, bin string, in []byte, allowFailure bool) ([]byte, sample, error) {
	var out, errOut bytes.Buffer
	stats, err := os.CreateTemp("", "bench-time-")
	if err != nil {
		return nil, sample{}, err
	}
	defer os.Remove(stats.Name())
	stats.Close()
	cmd := exec.CommandContext(ctx, gnuTime, "-o", stats.Name(), "-f", "%M", bin)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(in), &out, &errOut
	start := time.Now()
	err = cmd.Run()
	s := sample{wall: time.Since(start)}
	var exit *exec.ExitError
	if allowFailure && errors.As(err, &exit) && exit.ExitCode() > 0 {
		err = nil
	}
	if err != nil {
		return nil, sample{}, fmt.Errorf("%s: %v: %s", filepath.Base(bin), err, errOut.String())
	}
	b, err := os.ReadFile(stats.Name())
	if err != nil {
		return nil, sample{}, err
	}
	// After a failure GNU time writes "Command exited with non-zero status" first.
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if _, err := fmt.Sscanf(lines[len(lines)-1], "%d", &s.rssKiB); err != nil {
		return nil, sample{}, fmt.Errorf("reading GNU time's peak RSS %q: %w", b, err)
	}
	// The rusage of time's process includes the function's, which it waited for, to the
	// microsecond (time itself prints hundredths).
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		s.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return out.Bytes(), s, nil
}

// median takes each figure's median on its own.
func median(xs []sample) sample {
	pick := func(f func(sample) int64) int64 {
		v := make([]int64, len(xs))
		for i, x := range xs {
			v[i] = f(x)
		}
		sort.Slice(v, func(i, j int) bool { return v[i] < v[j] })
		return v[len(v)/2]
	}
	return sample{
		wall:   time.Duration(pick(func(s sample) int64 { return int64(s.wall) })),
		cpu:    time.Duration(pick(func(s sample) int64 { return int64(s.cpu) })),
		rssKiB: pick(func(s sample) int64 { return s.rssKiB }),
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

// resourceList wraps a declaration as kustomize passes a generator's config: the function config,
// no items.
func resourceList(decl string) []byte {
	var b strings.Builder
	b.WriteString("apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems: []\nfunctionConfig:\n")
	for _, line := range strings.Split(strings.TrimRight(decl, "\n"), "\n") {
		b.WriteString("  " + line + "\n")
	}
	return []byte(b.String())
}

// declaration is an executor serving n AVSs, every sixth with the same hardware profile mix.
func declaration(n int) string {
	var b strings.Builder
	b.WriteString(`apiVersion: fn.hourglass.eigenlayer.io/v1alpha1
kind: AVSExecutor
metadata:
  name: bench
  namespace: bench
spec:
  executor:
    image: {repository: public.ecr.aws/z6g0f8n7/eigenlayer-hourglass, tag: v1.0.0-rc.2}
  chains:
    ethereum: {rpcUrl: "https://eth.example.com/rpc"}
  operator:
    address: "0xabcdefabcdefabcdefabcdefabcdefabcdefabcd"
    keys: {secretName: operator-keys}
  persistence: {enabled: true}
  networkPolicy: {enabled: true}
  avs:
    supportedAvs:
`)
	profiles := []string{"[]", "[gpu-a100]", "[tee-sgx]", "[bottlerocket]", "[gpu-h100, bottlerocket]", "[tee-sev-snp, gpu]"}
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "    - {address: \"0x%040x\", name: avs-%d, performer: {image: example/performer-%d, version: v1.0.0}, profiles: %s}\n",
			i+1, i, i, profiles[i%len(profiles)])
	}
	return b.String()
}

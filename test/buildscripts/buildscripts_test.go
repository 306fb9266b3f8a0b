// Package buildscripts checks what the first-build scripts of hack/ print: each step with its
// number and about how long is left, go's own output kept in a log file whose path they print,
// nothing on a second run, and on a failure the step and the log. A stand-in go command
// (testdata/go) makes the builds instant.
package buildscripts

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/hourglass-gitops/hourglass-gitops/test/framework/repo"
)

type script struct {
	args  []string
	tool  string // the prefix of its lines
	steps int
}

var scripts = []script{
	{[]string{"hack/control-plane-bins.sh"}, "control-plane-bins", 8},
	{[]string{"hack/control-plane-bins.sh", "--node"}, "control-plane-bins", 4}, // kubelet, kube-proxy, CoreDNS after the above
	{[]string{"hack/flux-bins.sh"}, "flux-bins", 5},
	{[]string{"hack/argocd-bins.sh"}, "argocd-bins", 2},
	{[]string{"hack/promtool.sh"}, "promtool", 2},
	{[]string{"hack/tools.sh", "kustomize"}, "tools", 1},
}

// scriptsCopy copies hack/*.sh into a fresh folder, so that what the scripts write beside
// themselves (hack/tools.sh links bin/<tool>) stays out of the repository.
func scriptsCopy(t *testing.T, root string) string {
	t.Helper()
	dst := t.TempDir()
	files, err := filepath.Glob(filepath.Join(root, "hack", "*.sh"))
	if err != nil || len(files) == 0 {
		t.Fatalf("hack/*.sh: %v", err)
	}
	if err := os.MkdirAll(filepath.Join(dst, "hack"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, "hack", filepath.Base(f)), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func run(t *testing.T, root, cache string, env []string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := exec.Command(filepath.Join(root, args[0]), args[1:]...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), env...)
	cmd.Env = append(cmd.Env, "HOURGLASS_CACHE_DIR="+cache)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

func TestFirstBuildProgress(t *testing.T) {
	repoRoot, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	root := scriptsCopy(t, repoRoot)
	stubs := t.TempDir()
	b, err := os.ReadFile("testdata/go")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(stubs, "go"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	// argocd-bins.sh installs Redis when redis-server is missing.
	if err := os.WriteFile(filepath.Join(stubs, "redis-server"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	env := []string{"PATH=" + stubs + ":" + os.Getenv("PATH"), "FAKE_GO_MODS=" + t.TempDir()}
	step := regexp.MustCompile(`^(\S+): \[(\d+)/(\d+)\] (.+) \(about (\d+ s|\d+ min) left\) \.\.\.$`)
	for _, s := range scripts {
		t.Run(strings.Join(s.args, " "), func(t *testing.T) {
			stdout, stderr, err := run(t, root, cache, env, s.args...)
			if err != nil {
				t.Fatalf("%v\n%s", err, stderr)
			}
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			m := regexp.MustCompile(`^` + s.tool + `: first build, (\d+) steps, about .+ on 2 idle cores .*; go's output: (\S+)$`).FindStringSubmatch(lines[0])
			if m == nil {
				t.Fatalf("first line %q: want the plan and the log's path", lines[0])
			}
			logFile := m[2]
			var started, done int
			for _, l := range lines[1:] {
				if sm := step.FindStringSubmatch(l); sm != nil {
					started++
					if sm[1] != s.tool || sm[2] != strconv.Itoa(started) || sm[3] != strconv.Itoa(s.steps) {
						t.Errorf("%q: want step %d of %d of %s", l, started, s.steps, s.tool)
					}
				} else if strings.Contains(l, "] ") && strings.Contains(l, " done in ") {
					done++
				} else {
					t.Errorf("unexpected line on stderr: %q", l)
				}
			}
			if started != s.steps || done != s.steps {
				t.Errorf("%d steps started and %d done, want %d:\n%s", started, done, s.steps, stderr)
			}
			if strings.Contains(stderr, "go: downloading") {
				t.Errorf("go's output on stderr:\n%s", stderr)
			}
			if l, err := os.ReadFile(logFile); err != nil || !strings.Contains(string(l), "go: downloading") {
				t.Errorf("the log %s does not hold go's output (%v)", logFile, err)
			}
			path := strings.TrimSpace(stdout)
			if _, err := os.Stat(path); err != nil || strings.Contains(path, "\n") {
				t.Errorf("stdout %q: want the path of what was built", stdout)
			}
			// Built: a second run prints the path only.
			stdout2, stderr2, err := run(t, root, cache, env, s.args...)
			if err != nil || stdout2 != stdout || stderr2 != "" {
				t.Errorf("second run: %v, stdout %q, stderr %q; want the same path and nothing else", err, stdout2, stderr2)
			}
		})
	}
}

// A failing step says which, and where its output is.
func TestFailedStepNamesTheLog(t *testing.T) {
	repoRoot, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	root := scriptsCopy(t, repoRoot)
	stubs := t.TempDir()
	b, err := os.ReadFile("testdata/go")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(stubs, "go"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	env := []string{"PATH=" + stubs + ":" + os.Getenv("PATH"), "FAKE_GO_MODS=" + t.TempDir(), "FAKE_GO_FAIL=kube-apiserver"}
	_, stderr, err := run(t, root, cache, env, "hack/control-plane-bins.sh", "--envtest")
	if err == nil {
		t.Fatal("the script succeeded with a failing build")
	}
	want := "control-plane-bins: [4/4] build kube-apiserver failed; its full output is in " + filepath.Join(cache, "logs", "control-plane-bins.log")
	if !strings.Contains(stderr, want) || !strings.Contains(stderr, "compile: kube-apiserver: an error") {
		t.Errorf("stderr:\n%s\nwant the error and %q", stderr, want)
	}
	if _, err := os.Stat(filepath.Join(cache, "bin")); err == nil {
		entries, _ := filepath.Glob(filepath.Join(cache, "bin", "*", "kube-apiserver"))
		if len(entries) > 0 {
			t.Errorf("a failed build left %v", entries)
		}
	}
}

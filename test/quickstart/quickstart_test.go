// Package quickstart runs docs/quickstart.md as a user would: every sh block of the page, as it is
// written, in a copy of the repository, against a local cluster with KWOK nodes.
//
// It runs only with HOURGLASS_E2E=1 (make test-quickstart). The git clone block is skipped (the
// copy stands for the clone). KWOK pods run no containers, so once the install block has created
// the hourglass-operator ServiceAccount the controller runs as a local process with its token, as
// in the other end-to-end tests; everything else is the page's commands.
package quickstart

import (
	"bufio"
	"bytes"
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hourglass-gitops/hourglass-gitops/test/e2erun"
	"github.com/hourglass-gitops/hourglass-gitops/test/framework/cluster"
	"github.com/hourglass-gitops/hourglass-gitops/test/framework/repo"
)

const page = "docs/quickstart.md"

// blocks returns the sh blocks of the page, in order.
func blocks(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	var cur *strings.Builder
	s := bufio.NewScanner(f)
	for s.Scan() {
		l := s.Text()
		switch {
		case cur == nil && l == "```sh":
			cur = &strings.Builder{}
		case cur != nil && l == "```":
			out = append(out, cur.String())
			cur = nil
		case cur != nil:
			cur.WriteString(l + "\n")
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	if cur != nil {
		t.Fatalf("%s: an sh block is not closed", path)
	}
	return out
}

// copyTree copies the files Git knows (tracked and untracked, not ignored) of root into dst: what
// a clone of the working tree holds.
func copyTree(t *testing.T, root, dst string) {
	t.Helper()
	cmd := exec.Command("git", "ls-files", "-z", "-co", "--exclude-standard")
	cmd.Dir = root
	list, err := cmd.Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	for _, name := range strings.Split(strings.TrimRight(string(list), "\x00"), "\x00") {
		src := filepath.Join(root, name)
		info, err := os.Lstat(src)
		if err != nil {
			if os.IsNotExist(err) {
				continue // deleted in the working tree
			}
			t.Fatal(err)
		}
		if !info.Mode().IsRegular() {
			continue
		}
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dst, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, name), b, info.Mode().Perm()|fs.FileMode(0o200)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestQuickStart(t *testing.T) {
	e2erun.Gate(t, "quick start test (it runs docs/quickstart.md)", "test-quickstart", "kubectl", "make")
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	dir := os.Getenv("HOURGLASS_E2E_CLUSTER_DIR")
	if dir == "" {
		dir = filepath.Join(root, ".local", "quickstart-cluster")
	}
	out := e2erun.Log{T: t}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	t.Cleanup(func() {
		if err := cluster.Down(root, dir, out); err != nil {
			t.Errorf("stopping the cluster: %v", err)
		}
	})
	start := time.Now()
	c, err := cluster.Up(ctx, root, dir, out)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("cluster up in %s", time.Since(start).Round(time.Second))
	if err := cluster.BuildController(ctx, root, dir, out); err != nil {
		t.Fatal(err)
	}
	c.ControllerBuilt = true

	work := t.TempDir()
	copyTree(t, root, work)
	envFile := filepath.Join(t.TempDir(), "env")
	if err := os.WriteFile(envFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	ran, outputs := 0, map[string]string{}
	for i, b := range blocks(t, filepath.Join(root, page)) {
		if strings.HasPrefix(b, "git clone ") {
			continue
		}
		// Each block runs in bash with what the earlier ones exported (PATH, for example).
		script := "set -euo pipefail\nsource " + envFile + "\n" + b + "export -p > " + envFile + "\n"
		cmd := exec.CommandContext(ctx, "bash", "-c", script)
		cmd.Dir = work
		cmd.Env = append(os.Environ(), "KUBECONFIG="+c.Kubeconfig)
		var buf bytes.Buffer
		cmd.Stdout, cmd.Stderr = &buf, &buf
		blockStart := time.Now()
		err := cmd.Run()
		t.Logf("block %d (%s):\n%s%s", i+1, time.Since(blockStart).Round(time.Millisecond), b, buf.String())
		if err != nil {
			t.Fatalf("%s: block %d failed: %v\n%s\n%s", page, i+1, err, b, buf.String())
		}
		outputs[b] = buf.String()
		ran++
		if strings.Contains(b, "kubectl apply --server-side -k base") {
			if err := c.StartController(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if ran < 6 {
		t.Fatalf("%s: ran %d sh blocks, want the install, Secret, render, apply, check and clean-up blocks", page, ran)
	}
	var check string
	for b, o := range outputs {
		if strings.HasPrefix(b, "kubectl get performers") {
			check = o
		}
	}
	// NAME AVS IMAGE VERSION PHASE READY ...: the sample performer's row, Running and Ready.
	if !regexp.MustCompile(`(?m)^my-avs\s.*\sRunning\s+True\s`).MatchString(check) {
		t.Errorf("kubectl get performers shows no Ready my-avs:\n%s", check)
	}
	// Clean up removed the CRD.
	if o, err := c.Kubectl(ctx, "get", "crd", "performers.hourglass.eigenlayer.io", "--ignore-not-found"); err != nil || strings.TrimSpace(o) != "" {
		t.Errorf("after the clean up: the Performer CRD is still there (%v):\n%s", err, o)
	}
	t.Logf("the page's commands ran in %s", time.Since(start).Round(time.Second))
}

// Package quickstart runs docs/quickstart.md as a user would: every sh block of the page, as it is
// written, in a copy of the repository, against a local cluster with KWOK nodes.
//
// It runs only with HOURGLASS_E2E=1 (make test-quickstart). The git clone block is skipped (the
// copy stands for the clone). KWOK pods run no containers, so once the install block has created
// the hourglass-operator ServiceAccount the controller runs as a local process with its token, as
// in the other end-to-end tests; everything else is the page's commands.
package quickstart

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hourglass-gitops/hourglass-gitops/test/e2erun"
	"github.com/hourglass-gitops/hourglass-gitops/test/framework/cluster"
	"github.com/hourglass-gitops/hourglass-gitops/test/framework/docrun"
	"github.com/hourglass-gitops/hourglass-gitops/test/framework/repo"
)

const page = "docs/quickstart.md"

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
	if err := docrun.CopyTree(root, work); err != nil {
		t.Fatal(err)
	}
	blocks, err := docrun.Blocks(filepath.Join(root, page))
	if err != nil {
		t.Fatal(err)
	}
	sh := &docrun.Shell{Dir: work, Env: append(os.Environ(), "KUBECONFIG="+c.Kubeconfig)}
	defer sh.Close()
	ran, outputs := 0, map[string]string{}
	for _, b := range blocks {
		if strings.HasPrefix(b.Script, "git clone ") {
			continue
		}
		o, took, err := sh.Run(ctx, b)
		t.Logf("%s:%d (%s, %s):\n%s%s", page, b.Line, b.Section, took.Round(time.Millisecond), b.Script, o)
		if err != nil {
			t.Fatalf("%s:%d: the block failed: %v\n%s\n%s", page, b.Line, err, b.Script, o)
		}
		outputs[b.Script] = o
		ran++
		if strings.Contains(b.Script, "kubectl apply --server-side -k base") {
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

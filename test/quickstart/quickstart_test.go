// Package quickstart runs docs/quickstart.md as a user would: every sh block of the page, as it is
// written, in a copy of the repository, against a local cluster whose pods run on its real node
// (docs/real-node.md): the controller the install block applies, the sample performer the task
// goes to.
//
// It runs only with HOURGLASS_E2E=1 (make test-quickstart), as root (the real node). The git
// clone block is skipped (the copy stands for the clone). No registry is reachable, so the images
// the page names (the controller's, the sample performer's) are built here and imported into the
// node; the node's taint is taken off and the KWOK nodes cordoned, so that every pod lands on it.
// Everything else is the page's commands.
package quickstart

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hourglass-gitops/hourglass-gitops/test/e2erun"
	"github.com/hourglass-gitops/hourglass-gitops/test/framework/cluster"
	"github.com/hourglass-gitops/hourglass-gitops/test/framework/docrun"
	"github.com/hourglass-gitops/hourglass-gitops/test/framework/realnode"
)

const page = "docs/quickstart.md"

func TestQuickStart(t *testing.T) {
	e2erun.Gate(t, "quick start test (it runs docs/quickstart.md)", "test-quickstart", "kubectl", "make")
	if why := realnode.Missing(); why != "" {
		t.Fatalf("the quick start ends with a task sent to a performer pod, which needs the real node: %s", why)
	}
	r := e2erun.BeginCluster(t, "HOURGLASS_E2E_CLUSTER_DIR", "quickstart-cluster", 15*time.Minute)
	root, dir, out, ctx := r.Root, r.Dir, r.Out, r.Ctx
	start := time.Now()
	type built struct {
		im  *realnode.Images
		err error
	}
	images := make(chan built, 1)
	go func() {
		im, err := realnode.BuildImages(ctx, root, dir, false, out)
		images <- built{im, err}
	}()
	c, err := cluster.UpWith(ctx, root, dir, out, cluster.Options{RealNode: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("cluster with its real node up in %s", time.Since(start).Round(time.Second))
	b := <-images
	if b.err != nil {
		t.Fatal(b.err)
	}
	if err := b.im.Load(ctx, c); err != nil {
		t.Fatal(err)
	}
	onRealNode(t, ctx, c)
	t.Logf("images built and imported, every pod bound for %s, %s after the start", cluster.RealNodeName, time.Since(start).Round(time.Second))

	work, blocks := docrun.Page(t, root, page)
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
	}
	if ran < 7 {
		t.Fatalf("%s: ran %d sh blocks, want the install, Secret, render, apply, check, task and clean-up blocks", page, ran)
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
	var task string
	for b, o := range outputs {
		if strings.Contains(b, "submit-task --performer") {
			task = o
		}
	}
	// The sample performer squares the payload.
	if !regexp.MustCompile(`payload 12\s+result 144\s`).MatchString(task) {
		t.Errorf("the task block printed no result 144 for payload 12:\n%s", task)
	}
	// Clean up removed the CRD.
	if o, err := c.Kubectl(ctx, "get", "crd", "performers.hourglass.eigenlayer.io", "--ignore-not-found"); err != nil || strings.TrimSpace(o) != "" {
		t.Errorf("after the clean up: the Performer CRD is still there (%v):\n%s", err, o)
	}
	t.Logf("the page's commands ran in %s", time.Since(start).Round(time.Second))
}

// onRealNode sends every pod to the real node: its taint off, the KWOK nodes cordoned.
func onRealNode(t *testing.T, ctx context.Context, c *cluster.Cluster) {
	t.Helper()
	if _, err := c.Kubectl(ctx, "taint", "nodes", cluster.RealNodeName, cluster.RealNodeTaint+":NoSchedule-"); err != nil {
		t.Fatal(err)
	}
	names, err := c.Kubectl(ctx, "get", "nodes", "-o", "name")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range strings.Fields(names) {
		if n == "node/"+cluster.RealNodeName {
			continue
		}
		if _, err := c.Kubectl(ctx, "cordon", n); err != nil {
			t.Fatal(err)
		}
	}
}

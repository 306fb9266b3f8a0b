package gitops

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/hourglass-gitops/hourglass-gitops/test/framework/cluster"
	"github.com/hourglass-gitops/hourglass-gitops/test/framework/gitserver"
	"github.com/hourglass-gitops/hourglass-gitops/test/framework/repo"
)

// The GitOps repository renders as CI does, an edit of a declaration shows in the next rendering,
// and a clone over HTTP gets what was committed; the operator's release is tagged.
func TestExecutorsRepository(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("git is not on PATH: the GitOps repositories are Git repositories")
	}
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := cluster.BuildFunction(ctx, root, os.Stderr); err != nil {
		t.Fatal(err)
	}
	srv, err := gitserver.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	if _, err := PublishOperator(ctx, srv, root, t.TempDir(), OperatorRepo); err != nil {
		t.Fatal(err)
	}
	clone := filepath.Join(t.TempDir(), "operator")
	if out, err := exec.Command("git", "clone", "-q", "--branch", Release, srv.URL(OperatorRepo), clone).CombinedOutput(); err != nil {
		t.Fatalf("git clone --branch %s: %v\n%s", Release, err, out)
	}
	if _, err := os.Stat(filepath.Join(clone, "overlays", "production", "kustomization.yaml")); err != nil {
		t.Errorf("the operator's release has no overlays/production: %v", err)
	}

	e, err := NewExecutors(ctx, srv, root, t.TempDir(), ExecutorsRepo, []string{"multi-avs"})
	if err != nil {
		t.Fatal(err)
	}
	objs, err := e.Render(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want, err := cluster.Build(ctx, root, filepath.Join(root, "examples", "multi-avs"), true)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(e.RenderedFile("multi-avs"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("rendered/multi-avs.yaml differs from rendering examples/multi-avs (-example +repository):\n%s", diff)
	}
	if len(objs["multi-avs"]) == 0 {
		t.Fatal("no objects rendered")
	}

	err = e.EditDeclaration("multi-avs", func(decl *unstructured.Unstructured) error {
		m, save, err := SupportedAVS(decl, "price-feed")
		if err != nil {
			return err
		}
		m["performer"].(map[string]any)["version"] = "v9.9.9"
		return save()
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Render(ctx); err != nil {
		t.Fatal(err)
	}
	rev, err := e.Commit(ctx, "Upgrade price-feed")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(rev, "main@sha1:") {
		t.Errorf("revision %q, want main@sha1:<hash>", rev)
	}
	clone = filepath.Join(t.TempDir(), "executors")
	if out, err := exec.Command("git", "clone", "-q", e.URL, clone).CombinedOutput(); err != nil {
		t.Fatalf("git clone: %v\n%s", err, out)
	}
	rendered, err := cluster.ReadObjectsFile(filepath.Join(clone, "rendered", "multi-avs.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, o := range rendered {
		if o.GetKind() == "Performer" && o.GetName() == "price-feed" {
			v, _, _ := unstructured.NestedString(o.Object, "spec", "version")
			found = v == "v9.9.9"
		}
	}
	if !found {
		t.Error("the clone's rendered/multi-avs.yaml has no price-feed Performer at v9.9.9")
	}
	if _, err := os.Stat(filepath.Join(clone, "bin")); !os.IsNotExist(err) {
		t.Errorf("bin/ (the local function binary) was committed: %v", err)
	}

	if _, err := supportedAVSOf(e, "no-such-avs"); err == nil || !strings.Contains(err.Error(), "price-feed") {
		t.Errorf("asking for an unknown AVS: %v, want an error listing the AVSs", err)
	}
}

func supportedAVSOf(e *Executors, avs string) (map[string]any, error) {
	var m map[string]any
	err := e.EditDeclaration("multi-avs", func(decl *unstructured.Unstructured) error {
		var err error
		m, _, err = SupportedAVS(decl, avs)
		return err
	})
	return m, err
}

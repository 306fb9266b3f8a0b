package install

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fluxcd/pkg/ssa/utils"
	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/types"
)

// make release's install.yaml is the same bytes on every build, and a real API server takes it
// with the command its header gives (kubectl apply --server-side), every object of base/ in it;
// applying it again changes nothing.
func TestReleaseInstallYAML(t *testing.T) {
	if _, err := exec.LookPath("kubectl"); err != nil {
		t.Fatal("kubectl is not on the PATH: install it (the release's install.yaml is applied with it)")
	}
	root := repoRoot(t)
	var builds [2][]byte
	for i := range builds {
		out := t.TempDir()
		cmd := exec.Command("go", "run", "./hack/release", "build", "-out", out, "-kustomize", kustomize(t))
		cmd.Dir = root
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("release build: %v\n%s", err, b)
		}
		b, err := os.ReadFile(filepath.Join(out, "install.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		builds[i] = b
	}
	if diff := cmp.Diff(string(builds[0]), string(builds[1])); diff != "" {
		t.Fatalf("install.yaml differs between two builds (-first +second):\n%s", diff)
	}
	objs, err := utils.ReadObjects(bytes.NewReader(builds[0]))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(objectMaps(build(t, filepath.Join(root, "base"))), objectMaps(objs)); diff != "" {
		t.Fatalf("install.yaml is not base/ (-base +install.yaml):\n%s", diff)
	}
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, env.KubeConfig, 0o600); err != nil {
		t.Fatal(err)
	}
	install := filepath.Join(t.TempDir(), "install.yaml")
	if err := os.WriteFile(install, builds[0], 0o644); err != nil {
		t.Fatal(err)
	}
	apply := func() string {
		cmd := exec.Command("kubectl", "--kubeconfig", kubeconfig, "apply", "--server-side", "--force-conflicts", "-f", install)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl apply --server-side -f install.yaml: %v\n%s", err, out)
		}
		return string(out)
	}
	first := apply()
	if n := strings.Count(first, "serverside-applied"); n != len(objs) {
		t.Errorf("kubectl applied %d objects, install.yaml has %d:\n%s", n, len(objs), first)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var d appsv1.Deployment
	if err := c.Get(ctx, types.NamespacedName{Namespace: "hourglass-system", Name: deployment(t, objs).Name}, &d); err != nil {
		t.Fatalf("the controller's Deployment after the apply: %v", err)
	}
	// A second apply of the same file is a no-op for the API server: no object gets a new
	// resourceVersion.
	rv := d.ResourceVersion
	apply()
	if err := c.Get(ctx, types.NamespacedName{Namespace: "hourglass-system", Name: d.Name}, &d); err != nil {
		t.Fatal(err)
	}
	if d.ResourceVersion != rv {
		t.Errorf("applying install.yaml again changed the Deployment (resourceVersion %s -> %s)", rv, d.ResourceVersion)
	}
}

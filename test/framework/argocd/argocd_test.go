package argocd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/hourglass-gitops/hourglass-gitops/test/framework/cluster"
	"github.com/hourglass-gitops/hourglass-gitops/test/framework/repo"
)

// The Application differs from the one shipped in examples/argocd only in its source's repoURL
// and, when asked, its path.
func TestLoadExecutorApplication(t *testing.T) {
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	shipped, err := cluster.ReadObjectsFile(filepath.Join(root, "examples", "argocd", "application.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var want *unstructured.Unstructured
	for _, o := range shipped {
		if o.GetName() == ExecutorApplication {
			want = o
		}
	}
	if want == nil {
		t.Fatalf("examples/argocd/application.yaml has no Application %s", ExecutorApplication)
	}
	for _, tc := range []struct{ name, path, wantPath string }{
		{"path as shipped", "", "executors/my-avs-executor"},
		{"path changed", "examples/basic", "examples/basic"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := LoadExecutorApplication(root, "http://127.0.0.1:1/avs-gitops.git", tc.path)
			if err != nil {
				t.Fatal(err)
			}
			w := want.DeepCopy()
			if err := unstructured.SetNestedField(w.Object, "http://127.0.0.1:1/avs-gitops.git", "spec", "source", "repoURL"); err != nil {
				t.Fatal(err)
			}
			if err := unstructured.SetNestedField(w.Object, tc.wantPath, "spec", "source", "path"); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(w.Object, got.Object); diff != "" {
				t.Errorf("Application (-want +got):\n%s", diff)
			}
		})
	}
}

// An Application that names another plugin is refused, naming the file, the object and the field.
func TestLoadExecutorApplicationOtherPlugin(t *testing.T) {
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	fake := t.TempDir()
	raw, err := os.ReadFile(filepath.Join(root, "examples", "argocd", "application.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(fake, "examples", "argocd"), 0o755); err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(raw), "name: "+PluginName, "name: other-plugin", 1)
	if err := os.WriteFile(filepath.Join(fake, "examples", "argocd", "application.yaml"), []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = LoadExecutorApplication(fake, "http://127.0.0.1:1/x.git", "")
	if err == nil {
		t.Fatal("want an error for an Application with another plugin")
	}
	for _, s := range []string{"application.yaml", ExecutorApplication, "spec.source.plugin.name", "other-plugin"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not name %q", err, s)
		}
	}
}

// Socket paths stay short enough for a Unix socket however deep the state folder is.
func TestSocketDir(t *testing.T) {
	short := t.TempDir()
	got, err := socketDir(short)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(short, "sock"); got != want {
		t.Errorf("socketDir(%q) = %q, want %q", short, got, want)
	}
	deep := filepath.Join(short, strings.Repeat("a", 60), strings.Repeat("b", 60))
	got, err = socketDir(deep)
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(got)
	if n := len(filepath.Join(got, PluginName+".sock")); n > 100 {
		t.Errorf("socket path %d bytes long for state folder %q", n, deep)
	}
	if again, _ := socketDir(deep); again != got {
		t.Errorf("socketDir is not stable: %q then %q", got, again)
	}
}

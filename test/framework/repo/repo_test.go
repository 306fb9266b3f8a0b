package repo

import (
	"os"
	"path/filepath"
	"testing"
)

func TestRootFromSubfolder(t *testing.T) {
	root, err := Root()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"go.mod", "hack/local-cluster.sh", "base/crd"} {
		if _, err := os.Stat(filepath.Join(root, p)); err != nil {
			t.Errorf("Root() = %s, which has no %s: %v", root, p, err)
		}
	}
}

func TestRootOutsideTheModule(t *testing.T) {
	t.Chdir(t.TempDir())
	if root, err := Root(); err == nil {
		t.Errorf("Root() outside the module = %s, want an error", root)
	}
}

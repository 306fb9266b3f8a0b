package gitserver

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A commit pushed to the work tree's origin is what a clone over HTTP gets.
func TestCloneSeesPushedCommit(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Start(filepath.Join(dir, "srv"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := os.MkdirAll(filepath.Join(dir, "srv"), 0o755); err != nil {
		t.Fatal(err)
	}
	r, err := s.NewRepo(ctx, "fleet", filepath.Join(dir, "work"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.Work, "a.yaml"), []byte("kind: A\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rev, err := r.Commit(ctx, "add a")
	if err != nil {
		t.Fatal(err)
	}
	clone := filepath.Join(dir, "clone")
	if out, err := exec.Command("git", "clone", "-q", s.URL("fleet"), clone).CombinedOutput(); err != nil {
		t.Fatalf("clone over HTTP: %v: %s", err, out)
	}
	head, err := exec.Command("git", "-C", clone, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(head)); got != rev {
		t.Errorf("clone is at %s, pushed %s", got, rev)
	}
	if b, err := os.ReadFile(filepath.Join(clone, "a.yaml")); err != nil || string(b) != "kind: A\n" {
		t.Errorf("clone has a.yaml = %q, %v", b, err)
	}
}

// A tag pushed from the work tree is what a clone of that tag gets, as for a release.
func TestTag(t *testing.T) {
	ctx := context.Background()
	s, err := Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r, err := s.NewRepo(ctx, "release", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.Work, "VERSION"), []byte("one\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tagged, err := r.Commit(ctx, "first")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Tag(ctx, "v0.1.0"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.Work, "VERSION"), []byte("two\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Commit(ctx, "second"); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("git", "ls-remote", s.URL("release"), "refs/tags/v0.1.0").Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Fields(string(out)); len(got) == 0 || got[0] != tagged {
		t.Errorf("git ls-remote refs/tags/v0.1.0 = %q, want the first commit %s", out, tagged)
	}
}

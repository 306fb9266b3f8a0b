package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The committed files agree with VERSION.
func TestVersionAgrees(t *testing.T) {
	root := root(t)
	v, err := readVersion(root)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkErr(root, v); err != nil {
		t.Fatal(err)
	}
}

// Drift in any place is caught, and set-version brings every place back into agreement.
func TestDriftIsCaught(t *testing.T) {
	src := root(t)
	tmp := t.TempDir()
	copyPlaces(t, src, tmp)
	v, err := readVersion(tmp)
	if err != nil {
		t.Fatal(err)
	}
	if err := setVersion(tmp, "v9.8.7"); err != nil {
		t.Fatal(err)
	}
	// Each place now differs from the old version: check names every file.
	ds, err := check(tmp, v)
	if err != nil {
		t.Fatal(err)
	}
	drifted := map[string]bool{}
	for _, d := range ds {
		drifted[d.file] = true
		if d.value != "v9.8.7" {
			t.Errorf("%s: value %q, want v9.8.7", d, d.value)
		}
	}
	for _, p := range places {
		files, _ := p.files(tmp)
		hit := false
		for _, f := range files {
			rel, _ := filepath.Rel(tmp, f)
			hit = hit || drifted[rel]
		}
		if !hit {
			t.Errorf("%s (%s): set-version changed nothing, or check did not notice", p.glob, p.why)
		}
	}
	if err := checkErr(tmp, "v9.8.7"); err != nil {
		t.Errorf("after set-version: %v", err)
	}
	// One hand edit is reported with its file and line, and the message says how to fix it.
	f := filepath.Join(tmp, "base", "kustomization.yaml")
	b, _ := os.ReadFile(f)
	if err := os.WriteFile(f, []byte(strings.Replace(string(b), "newTag: v9.8.7", "newTag: v9.8.6", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	err = checkErr(tmp, "v9.8.7")
	if err == nil || !strings.Contains(err.Error(), `base/kustomization.yaml:`) || !strings.Contains(err.Error(), `is "v9.8.6"`) ||
		!strings.Contains(err.Error(), "make set-version") {
		t.Errorf("after a hand edit: %v, want base/kustomization.yaml named with v9.8.6 and the fix", err)
	}
	if err := setVersion(tmp, "9.8.7"); err == nil {
		t.Error("set-version accepted 9.8.7 without the leading v")
	}
}

// The function's catalog entry has the catalog's fields and links existing examples.
func TestMetadata(t *testing.T) {
	if _, err := metadataYAML(root(t)); err != nil {
		t.Fatal(err)
	}
}

// The release notes are the CHANGELOG section of the version, else the Unreleased one.
func TestChangelogEntry(t *testing.T) {
	tmp := t.TempDir()
	write := func(s string) {
		if err := os.WriteFile(filepath.Join(tmp, "CHANGELOG.md"), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("# Changelog\n\n## Unreleased\n- next\n\n## v1.0.0 - 2026-01-02\n- one\n\n## v0.9.0\n- old\n")
	for v, want := range map[string]string{"v1.0.0": "## v1.0.0\n- one\n\n", "v1.1.0": "## v1.1.0\n- next\n\n"} {
		got, err := changelogEntry(tmp, v)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, string(got)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", v, diff)
		}
	}
	write("# Changelog\n\n## v0.9.0\n- old\n")
	if _, err := changelogEntry(tmp, "v1.0.0"); err == nil || !strings.Contains(err.Error(), `"## v1.0.0"`) {
		t.Errorf("no section: %v, want an error naming ## v1.0.0", err)
	}
}

func root(t *testing.T) string {
	t.Helper()
	r, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// copyPlaces copies VERSION and the files of every place from src to dst.
func copyPlaces(t *testing.T, src, dst string) {
	t.Helper()
	names := []string{"VERSION"}
	for _, p := range places {
		files, err := p.files(src)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			rel, _ := filepath.Rel(src, f)
			names = append(names, rel)
		}
	}
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(src, n))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dst, n)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, n), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

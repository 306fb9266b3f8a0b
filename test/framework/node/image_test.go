package node

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

func TestImageLayout(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "app")
	if err := os.WriteFile(bin, []byte("#!/bin/true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	im := Image{Ref: "localhost/hourglass/app:1", Files: map[string]string{"/usr/bin/app": bin}, Entrypoint: []string{"/usr/bin/app"}, User: "65532:65532"}
	digests := map[string]bool{}
	for _, out := range []string{filepath.Join(dir, "a"), filepath.Join(dir, "b")} {
		if err := im.WriteLayout(out); err != nil {
			t.Fatal(err)
		}
		idx, err := layout.ImageIndexFromPath(out)
		if err != nil {
			t.Fatal(err)
		}
		m, err := idx.IndexManifest()
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Manifests) != 1 {
			t.Fatalf("%s: %d manifests, want 1", out, len(m.Manifests))
		}
		d := m.Manifests[0]
		digests[d.Digest.String()] = true
		if got := d.Annotations["io.containerd.image.name"]; got != im.Ref {
			t.Errorf("io.containerd.image.name = %q, want %q (ctr images import names the image by it)", got, im.Ref)
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"/usr/bin/app"}, cf.Config.Entrypoint); diff != "" {
			t.Errorf("entrypoint (-want +got):\n%s", diff)
		}
		if cf.Config.User != "65532:65532" || cf.OS != "linux" || cf.Architecture != "amd64" {
			t.Errorf("config user %q, platform %s/%s; want 65532:65532, linux/amd64", cf.Config.User, cf.OS, cf.Architecture)
		}
		layers, err := img.Layers()
		if err != nil || len(layers) != 1 {
			t.Fatalf("layers: %d, %v; want 1", len(layers), err)
		}
		rc, err := layers[0].Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		var entries []string
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			entries = append(entries, h.Name+" "+os.FileMode(h.Mode).String())
		}
		rc.Close()
		want := []string{"usr/ -rwxr-xr-x", "usr/bin/ -rwxr-xr-x", "usr/bin/app -rwxr-xr-x"}
		if diff := cmp.Diff(want, entries); diff != "" {
			t.Errorf("layer entries (-want +got):\n%s", diff)
		}
	}
	if len(digests) != 1 {
		t.Errorf("the same files gave different manifests: %v", digests)
	}
}

func TestImageNeedsTag(t *testing.T) {
	err := Image{Ref: "localhost/hourglass/app"}.WriteLayout(t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "Ref needs a tag") {
		t.Fatalf("WriteLayout without a tag: %v, want an error naming Ref", err)
	}
}

// Retag names the same image, with the same digest, under another reference, and PATH follows
// Image.Path.
func TestRetag(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "app")
	if err := os.WriteFile(bin, []byte("#!/bin/true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	if err := (Image{Ref: "localhost/app:1", Files: map[string]string{"/usr/local/bin/app": bin}, Path: "/usr/local/bin"}).WriteLayout(src); err != nil {
		t.Fatal(err)
	}
	if err := Retag(src, dst, "localhost/app:2"); err != nil {
		t.Fatal(err)
	}
	read := func(p string) (string, string, []string) {
		idx, err := layout.ImageIndexFromPath(p)
		if err != nil {
			t.Fatal(err)
		}
		m, err := idx.IndexManifest()
		if err != nil || len(m.Manifests) != 1 {
			t.Fatalf("%s: %v manifests, %v", p, m, err)
		}
		img, err := idx.Image(m.Manifests[0].Digest)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		return m.Manifests[0].Digest.String(), m.Manifests[0].Annotations["io.containerd.image.name"], cf.Config.Env
	}
	d1, n1, env := read(src)
	d2, n2, _ := read(dst)
	if d1 != d2 || n1 != "localhost/app:1" || n2 != "localhost/app:2" {
		t.Errorf("src %s %s, dst %s %s; want the same digest named localhost/app:1 and localhost/app:2", n1, d1, n2, d2)
	}
	if diff := cmp.Diff([]string{"PATH=/usr/local/bin"}, env); diff != "" {
		t.Errorf("env (-want +got):\n%s", diff)
	}
	if err := Retag(filepath.Join(dir, "missing"), dst, "x:1"); err == nil {
		t.Error("Retag of a missing layout succeeded")
	}
}

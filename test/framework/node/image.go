// Package node drives the real node of hack/local-cluster.sh (HOURGLASS_REAL_NODE=1): a kubelet
// with containerd beside the KWOK nodes. No registry is reachable, so images are built here as
// OCI image layouts from local static binaries and imported into the node's containerd.
package node

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Image is a single-layer image of local files.
type Image struct {
	// Ref names the image in containerd, e.g. localhost/hourglass/pause:1.
	Ref string
	// Files maps a path in the image to a file on disk; each is copied with mode 0755.
	Files map[string]string
	// Entrypoint is the image's entrypoint.
	Entrypoint []string
	// User is the image's default user ("" for root; pods set runAsUser anyway).
	User string
	// Path is the image's PATH, where a command without a slash is looked up; default "/".
	Path string
}

// annotations name the image the way `ctr images import` reads it from an OCI layout.
func (im Image) annotations() map[string]string {
	return map[string]string{
		"io.containerd.image.name":          im.Ref,
		"org.opencontainers.image.ref.name": im.Ref,
	}
}

// WriteLayout writes the image as an OCI image layout in dir (created, or replaced when it exists).
func (im Image) WriteLayout(dir string) error {
	if im.Ref == "" || !strings.Contains(im.Ref, ":") {
		return fmt.Errorf("image %q: Ref needs a tag (name:tag)", im.Ref)
	}
	layer, err := im.layer()
	if err != nil {
		return err
	}
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err := mutate.AppendLayers(base, layer)
	if err != nil {
		return err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = "amd64", "linux"
	cf.Config.Entrypoint = im.Entrypoint
	cf.Config.User = im.User
	cf.Config.Env = []string{"PATH=/"}
	if im.Path != "" {
		cf.Config.Env = []string{"PATH=" + im.Path}
	}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	return p.AppendImage(img, layout.WithAnnotations(im.annotations()))
}

// WriteArchive writes the image as a tar of an OCI image layout, what `ctr images import` takes.
func (im Image) WriteArchive(file string) error {
	dir, err := os.MkdirTemp("", "oci-layout-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := im.WriteLayout(dir); err != nil {
		return err
	}
	return TarDir(dir, file)
}

// layer is one tar layer with the files and their parent folders, in a fixed order and with
// zero times, so that the same files give the same digest.
func (im Image) layer() (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dests := make([]string, 0, len(im.Files))
	for d := range im.Files {
		dests = append(dests, d)
	}
	sort.Strings(dests)
	dirs := map[string]bool{}
	for _, d := range dests {
		clean := strings.TrimPrefix(path.Clean("/"+d), "/")
		var parents []string
		for p := path.Dir(clean); p != "." && !dirs[p]; p = path.Dir(p) {
			parents = append([]string{p}, parents...)
			dirs[p] = true
		}
		for _, p := range parents {
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: p + "/", Mode: 0o755}); err != nil {
				return nil, err
			}
		}
		b, err := os.ReadFile(im.Files[d])
		if err != nil {
			return nil, fmt.Errorf("image %s: file %s: %w", im.Ref, d, err)
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: clean, Mode: 0o755, Size: int64(len(b))}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(b); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.OCILayer))
}

// TarDir writes the files under dir to a tar file, paths relative to dir.
func TarDir(dir, file string) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	err = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		h, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		h.Name = filepath.ToSlash(rel)
		if info.IsDir() {
			h.Name += "/"
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if info.IsDir() {
			return nil
		}
		src, err := os.Open(p)
		if err != nil {
			return err
		}
		defer src.Close()
		_, err = io.Copy(tw, src)
		return err
	})
	if err == nil {
		err = tw.Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Retag writes the image (or image index) that the OCI layout src names as a layout in dst named
// ref, for `ctr images import`: the same content under another name, as `docker tag` gives.
func Retag(src, dst, ref string) error {
	p, err := layout.FromPath(src)
	if err != nil {
		return fmt.Errorf("%s: no OCI image layout: %w", src, err)
	}
	top, err := p.ImageIndex()
	if err != nil {
		return err
	}
	im, err := top.IndexManifest()
	if err != nil {
		return err
	}
	if len(im.Manifests) != 1 {
		return fmt.Errorf("%s: index.json names %d images, want 1", src, len(im.Manifests))
	}
	desc := im.Manifests[0]
	ann := Image{Ref: ref}.annotations()
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	out, err := layout.Write(dst, empty.Index)
	if err != nil {
		return err
	}
	if desc.MediaType.IsIndex() {
		idx, err := top.ImageIndex(desc.Digest)
		if err != nil {
			return err
		}
		return out.AppendIndex(idx, layout.WithAnnotations(ann))
	}
	img, err := top.Image(desc.Digest)
	if err != nil {
		return err
	}
	return out.AppendImage(img, layout.WithAnnotations(ann))
}

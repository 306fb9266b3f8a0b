// Command images builds the project's container images without a container engine or a base
// image: static Go binaries on an empty base with /etc/passwd, /etc/group, CA certificates and a
// writable /tmp, for linux/amd64 and linux/arm64, written as OCI image layouts and OCI archives.
//
//	go run ./hack/images --out _output/images --version v0.3.0      (make images)
//
// For every image NAME (performer-controller, avs-executor-fn, sample-performer) it writes
//
//	OUT/NAME/      an OCI image layout whose index.json names the multi-platform index
//	               REGISTRY/NAME:VERSION (skopeo copy oci:OUT/NAME:REGISTRY/NAME:VERSION ...)
//	OUT/NAME.tar   the same layout as one OCI archive (podman load -i, ctr images import)
//
// The output is reproducible: file times and the images' creation time come from
// SOURCE_DATE_EPOCH, else from the commit time of HEAD, so the same sources give byte-identical
// images and digests.
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// tagRe is the grammar of an image tag; the version becomes one.
var tagRe = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

const versionPkg = "github.com/hourglass-gitops/hourglass-gitops/api/version"

// image is one image to build: binaries at their paths in the image, the first is the entrypoint.
type image struct {
	name        string
	description string
	binaries    []binary
}

type binary struct {
	path string // in the image
	pkg  string // Go package, relative to the module root
}

// The same paths as Dockerfile and krm-fn.Dockerfile, so either way of building gives one layout.
var images = []image{
	{"performer-controller", "The Hourglass Performer controller, and the performer-forwarder sidecar of executor pods.",
		[]binary{{"/hourglass-controller", "./controller"}, {"/performer-forwarder", "./controller/cmd/performer-forwarder"}}},
	{"avs-executor-fn", "The avs-executor KRM function: an AVSExecutor declaration into an Hourglass executor and its Performers.",
		[]binary{{"/avs-executor-fn", "./functions"}}},
	{"sample-performer", "A sample Hourglass performer: squares a decimal payload (examples/performer).",
		[]binary{{"/performer", "./examples/performer"}}},
}

// Files of the base: a non-root user as distroless has (65532), and nobody, whom kpt runs
// function containers as.
const (
	passwd = "root:x:0:0:root:/root:/sbin/nologin\n" +
		"nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n" +
		"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	group = "root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n"
)

type options struct {
	root, out, registry, version, revision, source, caFile string
	platforms                                              []v1.Platform
	created                                                time.Time
	only                                                   map[string]bool
}

// main builds the images named by -only (all by default) for -platforms into -out.
func main() {
	var o options
	var platforms, only string
	flag.StringVar(&o.out, "out", "_output/images", "Directory the OCI layouts and archives are written to.")
	flag.StringVar(&o.registry, "registry", "ghcr.io/hourglass-gitops", "Repository prefix of the image names.")
	flag.StringVar(&o.version, "version", "", "Version stamped into the binaries and the tag; default: the VERSION file, as make images passes it.")
	flag.StringVar(&o.source, "source", "https://github.com/hourglass-gitops/hourglass-gitops", "org.opencontainers.image.source label.")
	flag.StringVar(&o.caFile, "ca-certificates", "/etc/ssl/certs/ca-certificates.crt", "CA bundle copied into the images (Debian's ca-certificates).")
	flag.StringVar(&platforms, "platforms", "linux/amd64,linux/arm64", "Comma-separated platforms of each image's index.")
	flag.StringVar(&only, "only", "", "Comma-separated image names to build; default all.")
	flag.Parse()
	if err := run(&o, platforms, only); err != nil {
		fmt.Fprintln(os.Stderr, "images:", err)
		os.Exit(1)
	}
}

// run reads the options that need the checkout (its root, revision and creation time) and builds
// each image, printing its reference and digest.
func run(o *options, platforms, only string) error {
	root, err := gitOut(".", "rev-parse", "--show-toplevel")
	if err != nil {
		return fmt.Errorf("not in a git checkout: %v", err)
	}
	o.root = root
	for _, p := range strings.Split(platforms, ",") {
		os, arch, ok := strings.Cut(strings.TrimSpace(p), "/")
		if !ok || os != "linux" {
			return fmt.Errorf("--platforms: %q is not linux/ARCH", p)
		}
		o.platforms = append(o.platforms, v1.Platform{OS: os, Architecture: arch})
	}
	if only != "" {
		o.only = map[string]bool{}
		for _, n := range strings.Split(only, ",") {
			o.only[n] = true
		}
	}
	if o.version == "" {
		b, err := os.ReadFile(filepath.Join(root, "VERSION"))
		if err != nil {
			return fmt.Errorf("--version not given and no VERSION file: %w", err)
		}
		o.version = strings.TrimSpace(string(b))
	}
	if !tagRe.MatchString(o.version) {
		return fmt.Errorf("--version: %q is not a valid image tag (letters, digits, _ . -, at most 128, not starting with . or -)", o.version)
	}
	if o.revision, err = gitOut(root, "rev-parse", "HEAD"); err != nil {
		return err
	}
	if o.created, err = sourceDate(root); err != nil {
		return err
	}
	if _, err := os.Stat(o.caFile); err != nil {
		return fmt.Errorf("--ca-certificates: %v (install Debian's ca-certificates: apt-get install ca-certificates)", err)
	}
	if !filepath.IsAbs(o.out) {
		o.out = filepath.Join(root, o.out)
	}
	fmt.Printf("version %s, revision %s, created %s\n", o.version, o.revision, o.created.Format(time.RFC3339))
	for _, img := range images {
		if o.only != nil && !o.only[img.name] {
			continue
		}
		start := time.Now()
		ref, digest, err := build(context.Background(), o, img)
		if err != nil {
			return fmt.Errorf("%s: %w", img.name, err)
		}
		fmt.Printf("%-22s %s@%s  %s/  %.1fs\n", img.name, ref, digest, filepath.Join(o.out, img.name), time.Since(start).Seconds())
	}
	return nil
}

// sourceDate is SOURCE_DATE_EPOCH when set, else the commit time of HEAD.
func sourceDate(root string) (time.Time, error) {
	s := os.Getenv("SOURCE_DATE_EPOCH")
	if s == "" {
		var err error
		if s, err = gitOut(root, "log", "-1", "--format=%ct"); err != nil {
			return time.Time{}, err
		}
	}
	sec, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH: %q is not seconds since 1970", s)
	}
	return time.Unix(sec, 0).UTC(), nil
}

// build writes the image's multi-platform index as OUT/NAME/ and OUT/NAME.tar.
func build(ctx context.Context, o *options, img image) (string, v1.Hash, error) {
	ref := o.registry + "/" + img.name + ":" + o.version
	labels := map[string]string{
		"org.opencontainers.image.title":       img.name,
		"org.opencontainers.image.description": img.description,
		"org.opencontainers.image.version":     o.version,
		"org.opencontainers.image.revision":    o.revision,
		"org.opencontainers.image.source":      o.source,
		"org.opencontainers.image.created":     o.created.Format(time.RFC3339),
		"org.opencontainers.image.licenses":    "Apache-2.0",
	}
	ca, err := os.ReadFile(o.caFile)
	if err != nil {
		return "", v1.Hash{}, err
	}
	bin, err := os.MkdirTemp("", "images-")
	if err != nil {
		return "", v1.Hash{}, err
	}
	defer os.RemoveAll(bin)

	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, p := range o.platforms {
		files, err := platformFiles(ctx, o, img, p, ca, bin)
		if err != nil {
			return "", v1.Hash{}, err
		}
		layer, err := tarLayer(files, o.created)
		if err != nil {
			return "", v1.Hash{}, err
		}
		im, err := platformImage(layer, p, img, labels, o.created)
		if err != nil {
			return "", v1.Hash{}, err
		}
		pl := p
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: im, Descriptor: v1.Descriptor{Platform: &pl}})
	}
	idx = mutate.Annotations(idx, labels).(v1.ImageIndex)
	digest, err := idx.Digest()
	if err != nil {
		return "", v1.Hash{}, err
	}
	if err := writeLayout(o, img, ref, idx); err != nil {
		return "", v1.Hash{}, err
	}
	return ref, digest, nil
}

// platformFiles are the files of the image for platform p: a minimal /etc with the CA bundle, the
// nonroot user's home, /tmp, and the image's binaries built for p in folder bin.
func platformFiles(ctx context.Context, o *options, img image, p v1.Platform, ca []byte, bin string) ([]file, error) {
	files := []file{
		{name: "etc/", mode: 0o755, dir: true},
		{name: "etc/group", mode: 0o644, data: []byte(group)},
		{name: "etc/passwd", mode: 0o644, data: []byte(passwd)},
		{name: "etc/ssl/", mode: 0o755, dir: true},
		{name: "etc/ssl/certs/", mode: 0o755, dir: true},
		{name: "etc/ssl/certs/ca-certificates.crt", mode: 0o644, data: ca},
		{name: "home/", mode: 0o755, dir: true},
		{name: "home/nonroot/", mode: 0o700, dir: true, uid: 65532},
		{name: "tmp/", mode: 0o1777, dir: true},
	}
	for _, b := range img.binaries {
		out := filepath.Join(bin, p.Architecture, filepath.Base(b.path))
		if err := goBuild(ctx, o, p, b.pkg, out); err != nil {
			return nil, err
		}
		data, err := os.ReadFile(out)
		if err != nil {
			return nil, err
		}
		files = append(files, file{name: strings.TrimPrefix(b.path, "/"), mode: 0o755, data: data})
	}
	return files, nil
}

// writeLayout writes index idx as the OCI layout OUT/NAME/, named ref, and as OUT/NAME.tar.
func writeLayout(o *options, img image, ref string, idx v1.ImageIndex) error {
	dir := filepath.Join(o.out, img.name)
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	// ref.name for skopeo's oci:DIR:REF and podman; io.containerd.image.name for ctr images import.
	if err := lp.AppendIndex(idx, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": ref,
		"io.containerd.image.name":          ref,
	})); err != nil {
		return err
	}
	return tarDir(dir, dir+".tar", o.created)
}

// platformImage is the image for platform p: one layer, its labels, the nonroot user and the
// image's entry point.
func platformImage(layer v1.Layer, p v1.Platform, img image, labels map[string]string, created time.Time) (v1.Image, error) {
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	im, err := mutate.Append(base, mutate.Addendum{Layer: layer, History: v1.History{
		Created:   v1.Time{Time: created},
		CreatedBy: "hack/images: " + img.binaries[0].pkg,
		Comment:   "static Go binaries, passwd, group, CA certificates, /tmp",
	}})
	if err != nil {
		return nil, err
	}
	cf, err := im.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
	cf.Created = v1.Time{Time: created}
	cf.Config = v1.Config{
		Entrypoint: []string{img.binaries[0].path},
		User:       "65532:65532",
		WorkingDir: "/",
		Env:        []string{"PATH=/usr/local/bin:/usr/bin:/bin", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"},
		Labels:     labels,
	}
	return mutate.ConfigFile(im, cf)
}

// goBuild builds a static binary for the platform with the version stamped in.
func goBuild(ctx context.Context, o *options, p v1.Platform, pkg, out string) error {
	ldflags := fmt.Sprintf("-s -w -buildid= -X %s.Version=%s -X %s.Revision=%s", versionPkg, o.version, versionPkg, o.revision)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", ldflags, "-o", out, pkg)
	cmd.Dir = o.root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.OS, "GOARCH="+p.Architecture, "GOTOOLCHAIN=local", "GOFLAGS=-buildvcs=false")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s for %s/%s: %v\n%s", pkg, p.OS, p.Architecture, err, b)
	}
	return nil
}

type file struct {
	name string
	mode int64
	dir  bool
	uid  int
	data []byte
}

// tarLayer is a gzipped layer of the files in name order, every time set to mtime and owned by
// root unless given: the same files give the same digest.
func tarLayer(files []file, mtime time.Time) (v1.Layer, error) {
	sort.Slice(files, func(i, j int) bool { return files[i].name < files[j].name })
	var buf bytes.Buffer
	gz, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	tw := tar.NewWriter(gz)
	for _, f := range files {
		h := &tar.Header{Name: f.name, Mode: f.mode, ModTime: mtime, Uid: f.uid, Gid: f.uid, Format: tar.FormatPAX}
		if f.dir {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil },
		tarball.WithMediaType(types.OCILayer))
}

// tarDir writes the OCI layout at dir as one archive, files in name order with fixed times.
func tarDir(dir, out string, mtime time.Time) error {
	var paths []string
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && p != dir {
			paths = append(paths, p)
		}
		return err
	})
	if err != nil {
		return err
	}
	sort.Strings(paths)
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		h := &tar.Header{Name: filepath.ToSlash(rel), ModTime: mtime, Mode: 0o644, Format: tar.FormatPAX}
		if info.IsDir() {
			h.Name, h.Typeflag, h.Mode = h.Name+"/", tar.TypeDir, 0o755
		} else {
			h.Typeflag, h.Size = tar.TypeReg, info.Size()
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if !info.IsDir() {
			src, err := os.Open(p)
			if err != nil {
				return err
			}
			_, err = io.Copy(tw, src)
			src.Close()
			if err != nil {
				return err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return f.Close()
}

// gitOut runs git with args in dir and returns its output, trimmed.
func gitOut(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %v", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out)), nil
}

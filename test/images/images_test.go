package images

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hourglass-gitops/hourglass-gitops/test/framework/krm"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// The images of `make images` (hack/images), run under podman: HOURGLASS_IMAGES names the
// directory of their OCI layouts (make test-images sets it).
func imagesDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("HOURGLASS_IMAGES")
	if dir == "" {
		t.Skip("HOURGLASS_IMAGES is not set: make test-images builds the images and runs these tests")
	}
	return dir
}

// built is one image of the layout directory.
type built struct {
	name, ref string
	index     v1.ImageIndex
	labels    map[string]string
}

func readLayout(t *testing.T, dir, name string) built {
	t.Helper()
	lp, err := layout.FromPath(filepath.Join(dir, name))
	if err != nil {
		t.Fatalf("%s: no OCI layout: %v", name, err)
	}
	top, err := lp.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	im, err := top.IndexManifest()
	if err != nil || len(im.Manifests) != 1 {
		t.Fatalf("%s: index.json must name one image index, got %v (%v)", name, im, err)
	}
	idx, err := top.ImageIndex(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	return built{name: name, ref: im.Manifests[0].Annotations["org.opencontainers.image.ref.name"], index: idx, labels: m.Annotations}
}

var names = []string{"performer-controller", "avs-executor-fn", "sample-performer"}

// Each layout holds a linux/amd64 and a linux/arm64 image, named ghcr.io/hourglass-gitops/NAME:VERSION,
// with the OCI labels, non-root user, /etc/passwd (nonroot and nobody), CA certificates and a
// /tmp anyone may write.
func TestLayouts(t *testing.T) {
	dir := imagesDir(t)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			b := readLayout(t, dir, name)
			version := b.labels["org.opencontainers.image.version"]
			if diff := cmp.Diff("ghcr.io/hourglass-gitops/"+name+":"+version, b.ref); diff != "" || version == "" {
				t.Errorf("image name (-want +got):\n%s", diff)
			}
			for _, l := range []string{"source", "revision", "created"} {
				if b.labels["org.opencontainers.image."+l] == "" {
					t.Errorf("label org.opencontainers.image.%s is missing", l)
				}
			}
			m, _ := b.index.IndexManifest()
			var platforms []string
			for _, d := range m.Manifests {
				platforms = append(platforms, d.Platform.String())
				img, err := b.index.Image(d.Digest)
				if err != nil {
					t.Fatal(err)
				}
				cf, err := img.ConfigFile()
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff([]string{"65532:65532", d.Platform.Architecture}, []string{cf.Config.User, cf.Architecture}); diff != "" {
					t.Errorf("%s: user, architecture (-want +got):\n%s", d.Platform, diff)
				}
				if diff := cmp.Diff(b.labels, cf.Config.Labels); diff != "" {
					t.Errorf("%s: config labels differ from the index annotations (-index +config):\n%s", d.Platform, diff)
				}
				files := layerFiles(t, img)
				for path, want := range map[string]string{"etc/passwd": "-rw-r--r--", "etc/group": "-rw-r--r--", "etc/ssl/certs/ca-certificates.crt": "-rw-r--r--", "tmp/": "dtrwxrwxrwx"} {
					if got, ok := files[path]; !ok || got.mode != want {
						t.Errorf("%s: %s: mode %q, want %q", d.Platform, path, got.mode, want)
					}
				}
				if p := files["etc/passwd"].data; !strings.Contains(p, "\nnobody:x:65534:") || !strings.Contains(p, "\nnonroot:x:65532:65532:") {
					t.Errorf("%s: /etc/passwd lacks nobody or nonroot:\n%s", d.Platform, p)
				}
				if !strings.Contains(files["etc/ssl/certs/ca-certificates.crt"].data, "BEGIN CERTIFICATE") {
					t.Errorf("%s: no CA certificates", d.Platform)
				}
				if ep := strings.TrimPrefix(cf.Config.Entrypoint[0], "/"); files[ep].mode != "-rwxr-xr-x" {
					t.Errorf("%s: entrypoint %s is not an executable in the image", d.Platform, ep)
				}
			}
			if diff := cmp.Diff([]string{"linux/amd64", "linux/arm64"}, platforms); diff != "" {
				t.Errorf("platforms (-want +got):\n%s", diff)
			}
		})
	}
}

type entry struct {
	mode string
	data string // text files only
}

func layerFiles(t *testing.T, img v1.Image) map[string]entry {
	t.Helper()
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("want one layer, got %d (%v)", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	files := map[string]entry{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		e := entry{mode: h.FileInfo().Mode().String()}
		if strings.HasPrefix(h.Name, "etc/") && h.Typeflag == tar.TypeReg {
			b, _ := io.ReadAll(tr)
			e.data = string(b)
		}
		files[h.Name] = e
	}
	return files
}

// The same sources, version and SOURCE_DATE_EPOCH give the same image digest.
func TestReproducible(t *testing.T) {
	dir := imagesDir(t)
	b := readLayout(t, dir, "avs-executor-fn")
	created, err := time.Parse(time.RFC3339, b.labels["org.opencontainers.image.created"])
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	cmd := exec.Command("go", "run", "./hack/images", "--out", out, "--only", "avs-executor-fn", "--version", b.labels["org.opencontainers.image.version"])
	cmd.Dir = root(t)
	cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH="+strconv.FormatInt(created.Unix(), 10))
	if o, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("hack/images: %v\n%s", err, o)
	}
	want, _ := b.index.Digest()
	got, _ := readLayout(t, out, "avs-executor-fn").index.Digest()
	if want != got {
		t.Errorf("a second build of avs-executor-fn has digest %s, the first %s", got, want)
	}
	first, _ := os.ReadFile(filepath.Join(dir, "avs-executor-fn.tar"))
	second, _ := os.ReadFile(filepath.Join(out, "avs-executor-fn.tar"))
	if !bytes.Equal(first, second) {
		t.Errorf("the OCI archives of two builds differ")
	}
}

func root(t *testing.T) string {
	t.Helper()
	r, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// podman runs hack/podman/podman.sh: the machine's podman with the project's containers.conf.
func podman(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(filepath.Join(root(t), "hack", "podman", "podman.sh"), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("podman %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), err
}

// load loads the images' OCI archives into podman's storage and returns them by name.
func load(t *testing.T, names ...string) map[string]built {
	t.Helper()
	dir := imagesDir(t)
	out := map[string]built{}
	for _, name := range names {
		b := readLayout(t, dir, name)
		if _, err := podman(t, "load", "-q", "-i", filepath.Join(dir, name+".tar")); err != nil {
			t.Fatal(err)
		}
		if _, err := podman(t, "image", "exists", b.ref); err != nil {
			t.Fatalf("%s is not in podman's storage after podman load: %v", b.ref, err)
		}
		out[name] = b
	}
	return out
}

// Every binary of every image answers --help and --version under podman, the version the one
// the image is labelled with.
func TestVersionAndHelp(t *testing.T) {
	imgs := load(t, names...)
	for _, tc := range []struct{ image, entrypoint, program string }{
		{"performer-controller", "/hourglass-controller", "hourglass-controller"},
		{"performer-controller", "/performer-forwarder", "performer-forwarder"},
		{"avs-executor-fn", "/avs-executor-fn", "avs-executor-fn"},
		{"sample-performer", "/performer", "performer"},
	} {
		t.Run(tc.program, func(t *testing.T) {
			b := imgs[tc.image]
			out, err := podman(t, "run", "--rm", "--network=none", "--entrypoint", tc.entrypoint, b.ref, "--version")
			if err != nil {
				t.Fatal(err)
			}
			want := tc.program + " " + b.labels["org.opencontainers.image.version"] + " (" + b.labels["org.opencontainers.image.revision"] + ") "
			if !strings.HasPrefix(out, want) || !strings.HasSuffix(strings.TrimSpace(out), "linux/amd64") {
				t.Errorf("--version: %q, want %q... linux/amd64", out, want)
			}
			// The flag package prints the usage on stderr; cobra on stdout.
			cmd := exec.Command(filepath.Join(root(t), "hack", "podman", "podman.sh"), "run", "--rm", "--network=none", "--entrypoint", tc.entrypoint, b.ref, "--help")
			help, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(strings.ToLower(string(help)), "usage") {
				t.Errorf("--help: %v\n%s", err, help)
			}
		})
	}
}

// examples are the folders of ../../examples that use the function (functions/examples_test.go).
var examples = []string{"basic", "gpu", "tee-sgx", "tee-sev-snp", "bottlerocket", "multi-avs", "custom-profile"}

var (
	kptExec    = regexp.MustCompile(`(?m)^(\s*- )exec: \S*avs-executor-fn$`)
	configExec = regexp.MustCompile(`(?m)^(\s*)exec:\n(\s*)path: \S*avs-executor-fn$`)
)

// The function image renders every example as the exec binary does, through each way a user
// runs a function image: a Kptfile mutator with image: (kpt fn render), kpt fn eval --image, and
// kustomize's container: form (kustomize calls docker; hack/podman/bin/docker runs podman). The
// objects are the same as the exec form's, the Kptfile and the declaration aside.
func TestFunctionImage(t *testing.T) {
	ref := load(t, "avs-executor-fn")["avs-executor-fn"].ref
	r := root(t)
	kpt, err := exec.LookPath("kpt")
	if err != nil {
		t.Fatal("kpt is not installed: this test runs kpt fn render and kpt fn eval with the function image")
	}
	kustomize := tool(t, r, "kustomize")
	tree := t.TempDir()
	fn := filepath.Join(tree, "bin", "avs-executor-fn")
	build := exec.Command("go", "build", "-trimpath", "-o", fn, "./functions")
	build.Dir, build.Env = r, append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./functions: %v\n%s", err, out)
	}
	env := append(os.Environ(),
		"PATH="+filepath.Join(r, "hack", "podman", "bin")+string(os.PathListSeparator)+os.Getenv("PATH"),
		"KPT_FN_RUNTIME=podman")

	for _, ex := range examples {
		t.Run(ex, func(t *testing.T) {
			// Each example waits mostly on podman starting containers: overlap them.
			t.Parallel()
			execDir := filepath.Join(tree, "examples", ex)
			copyPath(t, filepath.Join(r, "examples", ex), execDir)
			want := applied(t, runIn(t, execDir, env, kustomize, "build", "--enable-alpha-plugins", "--enable-exec", "."))

			imageDir := filepath.Join(tree, "image", ex)
			copyPath(t, filepath.Join(r, "examples", ex), imageDir)
			rewrite(t, filepath.Join(imageDir, "Kptfile"), kptExec, "${1}image: "+ref)
			rewrite(t, filepath.Join(imageDir, "executor.yaml"), configExec, "${1}container:\n${2}image: "+ref)

			got := map[string][]byte{
				"kpt fn render (image:)": krm.ItemsOf(t, runIn(t, imageDir, env, kpt, "fn", "render", "--image-pull-policy", "never",
					"--truncate-output=false", "-o", "stdout", ".")),
				"kpt fn eval --image": krm.ItemsOf(t, runIn(t, imageDir, env, kpt, "fn", "eval", "--image", ref, "--image-pull-policy", "never",
					"--fn-config", "executor.yaml", "--truncate-output=false", "-o", "stdout", ".")),
			}
			if _, err := os.Stat(filepath.Join(imageDir, "kustomization.yaml")); err == nil {
				got["kustomize container:"] = runIn(t, imageDir, env, kustomize, "build", "--enable-alpha-plugins", ".")
			}
			for how, out := range got {
				if diff := cmp.Diff(want, applied(t, out)); diff != "" {
					t.Errorf("%s differs from the exec form (-exec +image):\n%s", how, diff)
				}
			}
		})
	}
}

func rewrite(t *testing.T, path string, re *regexp.Regexp, repl string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !re.Match(b) {
		t.Fatalf("%s: no exec reference to avs-executor-fn to replace (%s)", path, re)
	}
	if err := os.WriteFile(path, re.ReplaceAll(b, []byte(repl)), 0o644); err != nil {
		t.Fatal(err)
	}
}

func runIn(t *testing.T, dir string, env []string, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir, cmd.Env = dir, env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s in %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), dir, err, stderr.String())
	}
	return stdout.Bytes()
}

func tool(t *testing.T, root, name string) string {
	t.Helper()
	out, err := exec.Command(filepath.Join(root, "hack", "tools.sh"), name).Output()
	if err != nil {
		t.Fatalf("hack/tools.sh %s: %v", name, err)
	}
	return strings.TrimSpace(string(out))
}

// applied is what would be applied: the objects by apiVersion/kind/namespace/name, without
// local-config objects (the Kptfile, the declaration) and the annotations the tools add.
func applied(t *testing.T, out []byte) map[string]map[string]any {
	t.Helper()
	objs, err := krm.Applied(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) == 0 {
		t.Errorf("no objects in the output:\n%s", out)
	}
	return objs
}

// Package images checks the images two ways. Without a container engine, the two Dockerfiles:
// the files each build stage copies are enough to build its binaries, the binaries are static and
// land in the final image where they are expected, and the final image runs as non-root. With
// HOURGLASS_IMAGES set (make test-images), the images hack/images built, under podman: their
// layouts, labels and base files, --help and --version of every binary, reproducible digests,
// and the function image rendering every example through kpt and kustomize.
package images

import (
	"bufio"
	"debug/elf"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

type dockerfile struct {
	copies     []string          // build-context sources of the build stage's COPY lines
	builds     map[string]string // output path in the build stage -> the package compiled there
	binaries   map[string]string // path in the final image -> the package built into it
	base       string            // the final stage's base image
	user       string
	entrypoint string
}

var buildRe = regexp.MustCompile(`go build .* -o (\S+) (\./\S+)`)

func parse(t *testing.T, path string) dockerfile {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d := dockerfile{builds: map[string]string{}, binaries: map[string]string{}}
	var logical strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasSuffix(line, `\`) {
			logical.WriteString(strings.TrimSuffix(line, `\`) + " ")
			continue
		}
		logical.WriteString(line)
		instr := strings.Fields(logical.String())
		logical.Reset()
		if len(instr) == 0 {
			continue
		}
		switch strings.ToUpper(instr[0]) {
		case "FROM":
			d.base = instr[len(instr)-1]
			if strings.Contains(strings.Join(instr, " "), " AS ") {
				d.base = instr[len(instr)-3]
			}
		case "COPY":
			args := instr[1:]
			if strings.HasPrefix(args[0], "--from") {
				if pkg, ok := d.builds[args[1]]; ok && len(args) == 3 {
					d.binaries[args[2]] = pkg
				}
				continue
			}
			d.copies = append(d.copies, args[:len(args)-1]...)
		case "RUN":
			if m := buildRe.FindStringSubmatch(strings.Join(instr, " ")); m != nil {
				d.builds[m[1]] = m[2]
			}
		case "USER":
			d.user = instr[1]
		case "ENTRYPOINT":
			d.entrypoint = strings.Join(instr[1:], " ")
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestDockerfiles(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		file       string
		binaries   map[string]string
		entrypoint string
	}{
		// The controller image also carries the forwarder the function renders as the executor
		// pod's performer-forwarder sidecar.
		{"Dockerfile", map[string]string{"/hourglass-controller": "./controller", "/performer-forwarder": "./controller/cmd/performer-forwarder"}, `["/hourglass-controller"]`},
		{"krm-fn.Dockerfile", map[string]string{"/avs-executor-fn": "./functions"}, `["/avs-executor-fn"]`},
	} {
		t.Run(tc.file, func(t *testing.T) {
			d := parse(t, filepath.Join(root, tc.file))
			if diff := cmp.Diff(tc.binaries, d.binaries); diff != "" {
				t.Errorf("%s: binaries in the final image and the packages built into them (-want +got):\n%s", tc.file, diff)
			}
			got := []string{d.base, d.user, d.entrypoint}
			want := []string{"gcr.io/distroless/static-debian12:nonroot", "65532:65532", tc.entrypoint}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s: final base, user, entrypoint (-want +got):\n%s", tc.file, diff)
			}

			// The build stage sees only what it copies: build from a context holding just that.
			ctx := t.TempDir()
			for _, src := range d.copies {
				copyPath(t, filepath.Join(root, src), filepath.Join(ctx, src))
			}
			for _, pkg := range d.builds {
				buildStatic(t, tc.file, ctx, pkg, d.copies)
			}
		})
	}
}

// buildStatic builds pkg in the context dir as the build stage does and checks that the binary
// is statically linked.
func buildStatic(t *testing.T, file, ctx, pkg string, copies []string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "bin")
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, pkg)
	cmd.Dir = ctx
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOTOOLCHAIN=local", "GOFLAGS=-buildvcs=false -mod=readonly")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: the files its build stage copies (%v) do not build %s: %v\n%s", file, copies, pkg, err, b)
	}
	bin, err := elf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer bin.Close()
	for _, p := range bin.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("%s: %s is dynamically linked; distroless static has no libc", file, pkg)
		}
	}
}

func copyPath(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if e.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		t.Fatalf("copying %s: %v", src, err)
	}
}

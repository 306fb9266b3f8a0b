package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/hourglass-gitops/hourglass-gitops/test/framework/krm"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// The same golden cases through the tools users run the function with: the kustomize CLI (as a
// generator, or as a transformer when the case has input objects), kpt fn render and kpt fn eval,
// and kustomize's Go API. Every path must produce the objects of expected.yaml, or fail with the
// messages of errors.txt and produce nothing.

var (
	buildOnce sync.Once
	fnBinary  string
	buildErr  error
)

// binary builds the function once per test run.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "avs-executor-fn")
		if err != nil {
			buildErr = err
			return
		}
		fnBinary = filepath.Join(dir, "avs-executor-fn")
		cmd := exec.Command("go", "build", "-o", fnBinary, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOTOOLCHAIN=local")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return fnBinary
}

func kustomizeCLI(t *testing.T) string {
	t.Helper()
	cmd := exec.Command(filepath.Join("..", "hack", "tools.sh"), "kustomize")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("cannot install the kustomize CLI with hack/tools.sh kustomize (it runs go install from the Go module proxy): %v\n%s", err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

func kptCLI(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("kpt")
	if err != nil {
		t.Fatalf("kpt is not installed: these tests run kpt fn render and kpt fn eval; install kpt (https://kpt.dev/installation/) and put it on PATH")
	}
	return path
}

type golden struct {
	name     string
	dir      string
	hasInput bool
	expected []byte // nil for cases that must fail
	errors   []*regexp.Regexp
}

// goldenDir holds the golden cases of the function's processor; the binary's tests run them
// through kustomize, kpt and the API server too.
const goldenDir = "avsexecutor/testdata"

func goldenCases(t *testing.T) []golden {
	t.Helper()
	dirs, err := os.ReadDir(goldenDir)
	if err != nil {
		t.Fatal(err)
	}
	var cases []golden
	for _, d := range dirs {
		if !d.IsDir() || d.Name() == "fuzz" {
			continue
		}
		g := golden{name: d.Name(), dir: filepath.Join(goldenDir, d.Name())}
		_, err := os.Stat(filepath.Join(g.dir, "input.yaml"))
		g.hasInput = err == nil
		if b, err := os.ReadFile(filepath.Join(g.dir, "errors.txt")); err == nil {
			for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
				g.errors = append(g.errors, regexp.MustCompile(line))
			}
		} else if g.expected, err = os.ReadFile(filepath.Join(g.dir, "expected.yaml")); err != nil {
			t.Fatal(err)
		}
		cases = append(cases, g)
	}
	return cases
}

// workspace writes a case into a fresh directory: config.yaml as function config (local-config,
// and for kustomize with the function annotation), input.yaml, a kustomization and a Kptfile.
func workspace(t *testing.T, g golden) string {
	t.Helper()
	dir := t.TempDir()
	cfg, err := yaml.ReadFile(filepath.Join(g.dir, "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.PipeE(yaml.SetAnnotation("config.kubernetes.io/local-config", "true")); err != nil {
		t.Fatal(err)
	}
	if err := cfg.PipeE(yaml.SetAnnotation("config.kubernetes.io/function", "exec:\n  path: "+binary(t)+"\n")); err != nil {
		t.Fatal(err)
	}
	if err := yaml.WriteFile(cfg, filepath.Join(dir, "config.yaml")); err != nil {
		t.Fatal(err)
	}
	kust := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nmetadata:\n  name: test\n  annotations:\n    config.kubernetes.io/local-config: \"true\"\n"
	if g.hasInput {
		in, err := os.ReadFile(filepath.Join(g.dir, "input.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "input.yaml"), in, 0o644); err != nil {
			t.Fatal(err)
		}
		kust += "resources:\n- input.yaml\ntransformers:\n- config.yaml\n"
	} else {
		kust += "generators:\n- config.yaml\n"
	}
	kptfile := "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: test\n  annotations:\n    config.kubernetes.io/local-config: \"true\"\npipeline:\n  mutators:\n  - exec: " +
		binary(t) + "\n    configPath: config.yaml\n"
	for name, content := range map[string]string{"kustomization.yaml": kust, "Kptfile": kptfile} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// applied returns the objects a tool would apply, keyed by apiVersion/kind/namespace/name: no
// local-config objects (function configs, profiles, Kptfiles, kustomizations) and none of the
// bookkeeping annotations tools add to find files.
func applied(t *testing.T, out []byte) map[string]map[string]any {
	t.Helper()
	objs, err := krm.Applied(out)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func keys(m map[string]map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// check compares a tool's outcome with the golden case.
func check(t *testing.T, g golden, tool string, out []byte, stderr string, err error) {
	t.Helper()
	if g.expected == nil {
		if err == nil {
			t.Fatalf("%s succeeded on a declaration that must be refused; output:\n%s", tool, out)
		}
		for _, re := range g.errors {
			if !re.MatchString(stderr) {
				t.Errorf("%s: the error output does not match %q:\n%s", tool, re, stderr)
			}
		}
		if len(bytes.TrimSpace(out)) > 0 && bytes.Contains(out, []byte("fn.hourglass.eigenlayer.io/declaration")) {
			t.Errorf("%s emitted rendered objects despite errors:\n%s", tool, out)
		}
		return
	}
	if err != nil {
		t.Fatalf("%s failed: %v\n%s", tool, err, stderr)
	}
	want, got := applied(t, g.expected), applied(t, out)
	if diff := cmp.Diff(keys(want), keys(got)); diff != "" {
		t.Errorf("%s: objects differ from expected.yaml (-want +got):\n%s", tool, diff)
	}
	for k, w := range want {
		if gv, ok := got[k]; ok {
			if diff := cmp.Diff(w, gv); diff != "" {
				t.Errorf("%s: %s differs from expected.yaml (-want +got):\n%s", tool, k, diff)
			}
		}
	}
}

func run(dir string, name string, args ...string) ([]byte, string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.Bytes(), stderr.String(), err
}

func TestKustomizeCLI(t *testing.T) {
	eachGoldenCase(t, "kustomize build", false, kustomizeCLI(t), "build", "--enable-alpha-plugins", "--enable-exec", ".")
}

func TestKptRender(t *testing.T) {
	eachGoldenCase(t, "kpt fn render", true, kptCLI(t), "fn", "render", "--allow-exec", "--truncate-output=false", "-o", "stdout", ".")
}

func TestKptEval(t *testing.T) {
	eachGoldenCase(t, "kpt fn eval", true, kptCLI(t), "fn", "eval", "--exec", binary(t), "--fn-config", "config.yaml", "--truncate-output=false", "-o", "stdout", ".")
}

// eachGoldenCase runs the command line in the workspace of every golden case, in parallel, and
// checks what it printed (what, for the messages). A command that prints a ResourceList has its
// items checked, and its errors are looked for in both outputs.
func eachGoldenCase(t *testing.T, what string, resourceList bool, name string, args ...string) {
	for _, g := range goldenCases(t) {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			dir := workspace(t, g)
			out, stderr, err := run(dir, name, args...)
			if resourceList {
				if err == nil {
					out = krm.ItemsOf(t, out)
				}
				stderr = string(out) + stderr
			}
			check(t, g, what, out, stderr, err)
		})
	}
}

// TestKrusty runs the cases through kustomize's Go API, with exec functions enabled the way the
// CLI's --enable-alpha-plugins --enable-exec does.
func TestKrusty(t *testing.T) {
	for _, g := range goldenCases(t) {
		t.Run(g.name, func(t *testing.T) {
			dir := workspace(t, g)
			opts := krusty.MakeDefaultOptions()
			opts.PluginConfig = types.MakePluginConfig(types.PluginRestrictionsNone, types.BploUseStaticallyLinked)
			opts.PluginConfig.FnpLoadingOptions.EnableExec = true
			// kustomize hands an exec function its own stderr; catch it to check the messages.
			stderr, err := os.CreateTemp(t.TempDir(), "stderr")
			if err != nil {
				t.Fatal(err)
			}
			saved := os.Stderr
			os.Stderr = stderr
			res, err := krusty.MakeKustomizer(opts).Run(filesys.MakeFsOnDisk(), dir)
			os.Stderr = saved
			msg, rerr := os.ReadFile(stderr.Name())
			if rerr != nil {
				t.Fatal(rerr)
			}
			var out []byte
			if err == nil {
				out, err = res.AsYaml()
			} else {
				msg = append(msg, err.Error()...)
			}
			check(t, g, "krusty", out, string(msg), err)
		})
	}
}

// TestInlineAndResourceProfilesAgree checks that a custom profile gives the same objects whether
// it is defined inline (what a kustomize generator can see) or as a PerformerProfile resource
// (kpt packages, kustomize transformers).
func TestInlineAndResourceProfilesAgree(t *testing.T) {
	read := func(c string) map[string]map[string]any {
		b, err := os.ReadFile(filepath.Join(goldenDir, c, "expected.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		return applied(t, b)
	}
	inline, resource := read("profile-custom-inline"), read("profile-custom-resource")
	delete(resource, "v1/ConfigMap/custom-avs/unrelated") // the pass-through object of that case
	if diff := cmp.Diff(inline, resource); diff != "" {
		t.Errorf("(-inline +resource):\n%s", diff)
	}
}

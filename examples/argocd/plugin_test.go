package argocd_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

type pluginCommand struct {
	Command []string `json:"command"`
	Args    []string `json:"args"`
}

// pluginSpec reads the ConfigManagementPlugin users apply from cmp-plugin.yaml.
func pluginSpec(t *testing.T) (generate, discover pluginCommand) {
	t.Helper()
	raw, err := os.ReadFile("cmp-plugin.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cm corev1.ConfigMap
	if err := yaml.UnmarshalStrict(raw, &cm); err != nil {
		t.Fatalf("cmp-plugin.yaml: %v", err)
	}
	var plugin struct {
		Spec struct {
			Init     *pluginCommand `json:"init"`
			Generate pluginCommand  `json:"generate"`
			Discover struct {
				Find pluginCommand `json:"find"`
			} `json:"discover"`
			PreserveFileMode bool `json:"preserveFileMode"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal([]byte(cm.Data["plugin.yaml"]), &plugin); err != nil {
		t.Fatalf("plugin.yaml: %v", err)
	}
	if plugin.Spec.Init != nil || plugin.Spec.PreserveFileMode {
		t.Errorf("the plugin has an init step or keeps file modes: nothing of the repository is to be run")
	}
	return plugin.Spec.Generate, plugin.Spec.Discover.Find
}

// TestPluginRunsOnlyTheFunction: the plugin's steps call the function's render and discover
// modes and nothing that would run repository content (kustomize with exec functions, a shell).
func TestPluginRunsOnlyTheFunction(t *testing.T) {
	generate, discover := pluginSpec(t)
	want := map[string][]string{"generate": {"avs-executor-fn", "render", "."}, "discover": {"avs-executor-fn", "discover", "."}}
	got := map[string][]string{"generate": append(generate.Command, generate.Args...), "discover": append(discover.Command, discover.Args...)}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("plugin commands (-want +got):\n%s", diff)
	}
}

// buildFunction builds the function binary, as the sidecar image carries it.
func buildFunction(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "avs-executor-fn")
	cmd := exec.Command("go", "build", "-o", bin, "../../functions")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// runStep runs a plugin step in dir the way argocd-cmp-server does, with the function on PATH.
func runStep(t *testing.T, bin, dir string, c pluginCommand) (string, string, error) {
	t.Helper()
	args := append(slices.Clone(c.Command[1:]), c.Args...)
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	// A kustomize that records being run: the hostile folders must fail before it is called.
	cmd.Env = append(os.Environ(), "KUSTOMIZE="+filepath.Join(dir, "no-kustomize-here"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// TestPluginRefusesOtherFunctions runs the plugin on hostile folders: a declaration whose
// exec.path is /bin/sh (which would run id and print a ClusterRoleBinding to cluster-admin), and
// a declaration beside another function's configuration. Rendering fails, saying why, and nothing
// runs: the file the shell would write is absent. Discovery claims folders by their
// declarations, not by a string in some file.
func TestPluginRefusesOtherFunctions(t *testing.T) {
	generate, discover := pluginSpec(t)
	bin := buildFunction(t)
	for _, tc := range []struct {
		fixture, want string
	}{
		{"exec-sh", `executor.yaml: AVSExecutor evil names the KRM function exec.path "/bin/sh"`},
		{"other-function", `transformer.yaml: ConfigMap fn.hourglass.eigenlayer.io-lookalike names the KRM function exec.path "./hook.sh"`},
	} {
		dir := t.TempDir()
		if err := os.CopyFS(dir, os.DirFS(filepath.Join("testdata", tc.fixture))); err != nil {
			t.Fatal(err)
		}
		out, stderr, err := runStep(t, bin, dir, generate)
		if err == nil {
			t.Errorf("%s: rendered:\n%s", tc.fixture, out)
		}
		if !strings.Contains(stderr, tc.want) || !strings.Contains(stderr, "runs no") {
			t.Errorf("%s: the error does not say what was refused and why:\n%s", tc.fixture, stderr)
		}
		if strings.Contains(out, "ClusterRoleBinding") {
			t.Errorf("%s: the output has the shell's ClusterRoleBinding:\n%s", tc.fixture, out)
		}
		if _, err := os.Stat(filepath.Join(dir, "pwned")); err == nil {
			t.Errorf("%s: the repository's program ran", tc.fixture)
		}
	}

	// Discovery: the examples with a declaration, and a folder whose only mention of the group
	// is in a ConfigMap, which the old grep claimed.
	lookalike := t.TempDir()
	raw, err := os.ReadFile(filepath.Join("testdata", "other-function", "transformer.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(lookalike, "transformer.yaml"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	for dir, claimed := range map[string]bool{"../basic": true, "../custom-profile": true, "testdata/exec-sh": true, ".": false, "../flux": false, lookalike: false} {
		out, stderr, err := runStep(t, bin, dir, discover)
		if err != nil {
			t.Errorf("discover in %s: %v\n%s", dir, err, stderr)
		}
		if got := strings.TrimSpace(out) != ""; got != claimed {
			t.Errorf("discover in %s: claimed %v, want %v (%q)", dir, got, claimed, out)
		}
	}
}

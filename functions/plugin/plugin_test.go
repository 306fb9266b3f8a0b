package plugin

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const declaration = `apiVersion: fn.hourglass.eigenlayer.io/v1alpha1
kind: AVSExecutor
metadata:
  name: my-executor
  namespace: my-avs
  annotations:
    config.kubernetes.io/function: |
%s
spec: {}
`

func withFunction(fn string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimSpace(fn), "\n") {
		b.WriteString("      " + l + "\n")
	}
	return strings.Replace(declaration, "%s\n", b.String(), 1)
}

func folder(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestCollectRefusesOtherFunctions: only declarations that name this function, or none, are
// rendered; anything naming another program stops the render before kustomize is called (the
// kustomize given here does not exist).
func TestCollectRefusesOtherFunctions(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  string // part of the error; "" when the folder is accepted
	}{
		{"this function by a relative path", map[string]string{"executor.yaml": withFunction("exec:\n  path: ../../bin/avs-executor-fn")}, ""},
		{"no function annotation", map[string]string{"executor.yaml": strings.Replace(declaration, "  annotations:\n    config.kubernetes.io/function: |\n%s\n", "", 1)}, ""},
		{"a shell", map[string]string{"executor.yaml": withFunction("exec:\n  path: /bin/sh\n  args: [-c, id]")}, `AVSExecutor my-executor names the KRM function exec.path "/bin/sh"`},
		{"this function's name with args", map[string]string{"executor.yaml": withFunction("exec:\n  path: bin/avs-executor-fn\n  args: [x]")}, `names the KRM function exec.path "bin/avs-executor-fn"`},
		{"a container", map[string]string{"executor.yaml": withFunction("container:\n  image: evil.example.com/fn:1")}, `names the KRM function container image "evil.example.com/fn:1"`},
		{"another object with a function", map[string]string{
			"executor.yaml": withFunction("exec:\n  path: ../../bin/avs-executor-fn"),
			"other.yaml":    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  annotations:\n    config.k8s.io/function: |\n      exec:\n        path: ./x.sh\n",
		}, `other.yaml: ConfigMap x names the KRM function exec.path "./x.sh"; the plugin renders AVSExecutor declarations with avs-executor-fn only`},
		{"an unknown kind of the group", map[string]string{
			"executor.yaml": withFunction("exec:\n  path: ../../bin/avs-executor-fn"),
			"other.yaml":    "apiVersion: fn.hourglass.eigenlayer.io/v1alpha1\nkind: Something\nmetadata:\n  name: x\n",
		}, "other.yaml: Something x: unknown kind of fn.hourglass.eigenlayer.io"},
		{"no declaration", map[string]string{"kustomization.yaml": "resources: [a.yaml]\n"}, "has no AVSExecutor declaration"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := folder(t, tc.files)
			err := Render(dir, "/nonexistent/avs-executor-fn", "/nonexistent/kustomize", &bytes.Buffer{})
			switch {
			case tc.want == "" && (err == nil || !strings.Contains(err.Error(), "/nonexistent/kustomize")):
				t.Errorf("want the folder accepted (and kustomize called), got %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("want an error containing %q, got %v", tc.want, err)
			}
		})
	}
}

// TestDiscover claims a folder by its declarations, not by a string in some file.
func TestDiscover(t *testing.T) {
	dir := folder(t, map[string]string{
		"a.yaml":             withFunction("exec:\n  path: ../../bin/avs-executor-fn"),
		"b.yml":              "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fn.hourglass.eigenlayer.io-x\n",
		"kustomization.yaml": "generators: [a.yaml]\n",
		"notes.txt":          "kind: AVSExecutor\napiVersion: fn.hourglass.eigenlayer.io/v1alpha1\n",
	})
	got, err := Discover(dir)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a.yaml"}, got); diff != "" {
		t.Errorf("discovered (-want +got):\n%s", diff)
	}
}

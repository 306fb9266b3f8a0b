package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hourglass-gitops/hourglass-gitops/test/framework/krm"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// examples are the folders of ../examples that use the function.
var examples = []string{"basic", "gpu", "tee-sgx", "tee-sev-snp", "bottlerocket", "multi-avs", "custom-profile"}

// exampleTree copies the examples into a fresh tree with the function at bin/avs-executor-fn,
// where their relative exec paths point, and returns the tree's root.
func exampleTree(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(binary(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bin", "avs-executor-fn"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, ex := range examples {
		src := filepath.Join("..", "examples", ex)
		err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(src, path)
			dst := filepath.Join(root, "examples", ex, rel)
			if d.IsDir() {
				return os.MkdirAll(dst, 0o755)
			}
			content, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			return os.WriteFile(dst, content, 0o644)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// renderExample renders one example with the kustomize CLI.
func renderExample(t *testing.T, kustomize, dir string) []byte {
	t.Helper()
	out, stderr, err := run(dir, kustomize, "build", "--enable-alpha-plugins", "--enable-exec", ".")
	if err != nil {
		t.Fatalf("kustomize build %s: %v\n%s", dir, err, stderr)
	}
	return out
}

// TestExamples renders every example with the kustomize CLI, kustomize's Go API, kpt fn render
// and kpt fn eval: all four give the same objects, all in the example's own namespace.
func TestExamples(t *testing.T) {
	kustomize, kpt := kustomizeCLI(t), kptCLI(t)
	root := exampleTree(t)
	namespaces := map[string]string{}
	for _, ex := range examples {
		t.Run(ex, func(t *testing.T) {
			dir := filepath.Join(root, "examples", ex)
			want := applied(t, renderExample(t, kustomize, dir))

			opts := krusty.MakeDefaultOptions()
			opts.PluginConfig = types.MakePluginConfig(types.PluginRestrictionsNone, types.BploUseStaticallyLinked)
			opts.PluginConfig.FnpLoadingOptions.EnableExec = true
			res, err := krusty.MakeKustomizer(opts).Run(filesys.MakeFsOnDisk(), dir)
			if err != nil {
				t.Fatalf("krusty: %v", err)
			}
			kout, err := res.AsYaml()
			if err != nil {
				t.Fatal(err)
			}
			// kpt resolves a relative exec path from its working directory: run it in the package.
			rout, stderr, err := run(dir, kpt, "fn", "render", "--allow-exec", "--truncate-output=false", "-o", "stdout", ".")
			if err != nil {
				t.Fatalf("kpt fn render: %v\n%s", err, stderr)
			}
			eout, stderr, err := run(dir, kpt, "fn", "eval", "--exec", "../../bin/avs-executor-fn", "--fn-config", "executor.yaml",
				"--truncate-output=false", "-o", "stdout", ".")
			if err != nil {
				t.Fatalf("kpt fn eval: %v\n%s", err, stderr)
			}
			for tool, out := range map[string][]byte{
				"krusty": kout, "kpt fn render": krm.ItemsOf(t, rout), "kpt fn eval": krm.ItemsOf(t, eout),
			} {
				if diff := cmp.Diff(want, applied(t, out)); diff != "" {
					t.Errorf("%s differs from kustomize build (-kustomize +%s):\n%s", tool, tool, diff)
				}
			}

			var performers int
			for key, obj := range want {
				md := obj["metadata"].(map[string]any)
				ns, _ := md["namespace"].(string)
				if kind := obj["kind"]; kind == "Namespace" {
					ns = md["name"].(string)
				} else if kind == "Performer" {
					performers++
				}
				if ns == "" {
					continue // ClusterRole and ClusterRoleBinding
				}
				if other, ok := namespaces[ns]; ok && other != ex {
					t.Errorf("%s: namespace %s is also used by example %s", key, ns, other)
				}
				namespaces[ns] = ex
			}
			if performers == 0 {
				t.Errorf("no Performer rendered")
			}
		})
	}

	// The walkthrough's names: the commands it shows must work on the basic example.
	basic := applied(t, renderExample(t, kustomize, filepath.Join(root, "examples", "basic")))
	for _, key := range []string{
		"v1/Namespace//my-avs-project",
		"apps/v1/StatefulSet/my-avs-project/my-avs-executor",
		"v1/Service/my-avs-project/my-avs-executor",
		"hourglass.eigenlayer.io/v1alpha1/Performer/my-avs-project/my-avs",
	} {
		if _, ok := basic[key]; !ok {
			t.Errorf("examples/basic renders no %s", key)
		}
	}
}

// TestKptRenderInPlace renders an example package the way kpt users do, in place: the objects
// land in files named after them, and rendering again changes no file and adds none.
func TestKptRenderInPlace(t *testing.T) {
	kpt := kptCLI(t)
	dir := filepath.Join(exampleTree(t), "examples", "basic")
	render := func() map[string]string {
		t.Helper()
		if _, stderr, err := run(dir, kpt, "fn", "render", "--allow-exec", "--truncate-output=false"); err != nil {
			t.Fatalf("kpt fn render: %v\n%s", err, stderr)
		}
		files := map[string]string{}
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(path)
			rel, _ := filepath.Rel(dir, path)
			files[rel] = string(b)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return files
	}
	first := render()
	for _, f := range []string{
		"my-avs-executor/statefulset_my-avs-executor.yaml",
		"my-avs-executor/performer_my-avs.yaml",
		"my-avs-executor/configmap_my-avs-executor-config.yaml",
		"my-avs-executor/clusterrole_hourglass-executor_my-avs-project_my-avs-executor.yaml",
	} {
		if _, ok := first[f]; !ok {
			t.Errorf("kpt wrote no %s; files: %s", f, strings.Join(keysOf(first), ", "))
		}
	}
	if diff := cmp.Diff(first, render()); diff != "" {
		t.Errorf("rendering again changed the package (-first +second):\n%s", diff)
	}
}

func keysOf(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

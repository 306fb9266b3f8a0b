// Package plugin renders the AVSExecutor declarations of a directory: what the Argo CD Config
// Management Plugin of examples/argocd runs in the repo server, on repository content that
// anyone who can push to the repository controls.
//
// It runs this function and nothing else. It reads the declarations (AVSExecutor) and the
// PerformerProfiles of the directory, found by kind; it never reads the directory's
// kustomization, so no exec.path, container function or generator of the repository runs. A
// document that names any other KRM function is refused before anything runs. The declarations
// are then rendered by kustomize build in a fresh directory where the only function is this
// binary, so the output is exactly what `kustomize build --enable-alpha-plugins
// --enable-exec` prints for a kustomization that lists the declarations as generators (or, with
// PerformerProfiles, as transformers over the profiles).
package plugin

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/kio"
	"sigs.k8s.io/kustomize/kyaml/kio/kioutil"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	fnv1alpha1 "github.com/hourglass-gitops/hourglass-gitops/api/fn/v1alpha1"
)

// FunctionName is the name of this function's binary; a declaration's exec.path may name it,
// wherever it points, since the plugin runs its own copy.
const FunctionName = "avs-executor-fn"

const functionAnnotation = "config.kubernetes.io/function"

// functionAnnotations name a KRM function on an object; kustomize and kpt read them.
var functionAnnotations = []string{functionAnnotation, "config.k8s.io/function"}

// declarations are the documents of a directory the plugin renders.
type declarations struct {
	executors []*yaml.RNode
	profiles  []*yaml.RNode
}

// Discover returns the files of dir that hold an AVSExecutor declaration, for the plugin's
// discover step: a directory is the plugin's when it has one.
func Discover(dir string) ([]string, error) {
	files, err := yamlFiles(dir)
	if err != nil {
		return nil, err
	}
	var found []string
	for _, f := range files {
		nodes, err := read(f)
		if err != nil {
			continue // not the plugin's to judge: kustomize or plain YAML may still read it
		}
		for _, n := range nodes {
			if isKind(n, fnv1alpha1.AVSExecutorKind) {
				found = append(found, filepath.Base(f))
				break
			}
		}
	}
	return found, nil
}

// Render writes the objects rendered from the declarations of dir to out. self is the path of
// this function's binary, the only program kustomize is allowed to run; kustomize is the path of
// the kustomize binary.
func Render(dir, self, kustomize string, out io.Writer) error {
	decls, err := collect(dir)
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "avs-executor-render-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	k := types.Kustomization{TypeMeta: types.TypeMeta{APIVersion: types.KustomizationVersion, Kind: types.KustomizationKind}}
	for i, p := range decls.profiles {
		name := fmt.Sprintf("profile-%d.yaml", i)
		if err := write(filepath.Join(work, name), p); err != nil {
			return err
		}
		k.Resources = append(k.Resources, name)
	}
	for i, d := range decls.executors {
		// The function that runs is this binary, whatever the declaration named.
		fn := yaml.MustParse("exec:\n  path: " + self + "\n")
		s, err := fn.String()
		if err != nil {
			return err
		}
		if _, err := d.Pipe(yaml.SetAnnotation(functionAnnotation, s)); err != nil {
			return err
		}
		name := fmt.Sprintf("executor-%d.yaml", i)
		if err := write(filepath.Join(work, name), d); err != nil {
			return err
		}
		// A generator sees nothing but its declaration; PerformerProfiles need the transformer.
		if len(decls.profiles) > 0 {
			k.Transformers = append(k.Transformers, name)
		} else {
			k.Generators = append(k.Generators, name)
		}
	}
	kb, err := yaml.Marshal(k)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(work, "kustomization.yaml"), kb, 0o600); err != nil {
		return err
	}

	// kustomize runs in the fresh directory, where the only function is this binary. (It is run
	// rather than linked: linking its build would double the memory of every function run.)
	var stderr bytes.Buffer
	cmd := exec.Command(kustomize, "build", "--enable-alpha-plugins", "--enable-exec", work)
	cmd.Dir, cmd.Stdout, cmd.Stderr = work, out, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("rendering the declarations of %s: %w\n%s", dir, err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// collect reads the declarations and profiles of dir and refuses what the plugin must not run.
func collect(dir string) (*declarations, error) {
	files, err := yamlFiles(dir)
	if err != nil {
		return nil, err
	}
	d := &declarations{}
	var problems []string
	for _, f := range files {
		nodes, err := read(f)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", filepath.Base(f), err))
			continue
		}
		for _, n := range nodes {
			where := fmt.Sprintf("%s: %s %s", filepath.Base(f), n.GetKind(), n.GetName())
			names := namedFunction(n)
			switch {
			case isKind(n, fnv1alpha1.AVSExecutorKind):
				if names != "" && !isThisFunction(n) {
					problems = append(problems, fmt.Sprintf("%s names the KRM function %s; the plugin renders declarations with %s only and runs nothing else: "+
						"name %s in exec.path, or leave the annotation out", where, names, FunctionName, FunctionName))
					continue
				}
				clearLocalAnnotations(n)
				d.executors = append(d.executors, n)
			case isKind(n, fnv1alpha1.PerformerProfileKind):
				if names != "" {
					problems = append(problems, fmt.Sprintf("%s names the KRM function %s; a PerformerProfile names none", where, names))
					continue
				}
				clearLocalAnnotations(n)
				d.profiles = append(d.profiles, n)
			case names != "":
				problems = append(problems, fmt.Sprintf("%s names the KRM function %s; the plugin renders AVSExecutor declarations with %s only and runs no other function",
					where, names, FunctionName))
			case groupOf(n.GetApiVersion()) == fnv1alpha1.GroupVersion.Group:
				problems = append(problems, fmt.Sprintf("%s: unknown kind of %s (the plugin reads %s and %s)",
					where, fnv1alpha1.GroupVersion.Group, fnv1alpha1.AVSExecutorKind, fnv1alpha1.PerformerProfileKind))
			}
		}
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "\n"))
	}
	if len(d.executors) == 0 {
		return nil, fmt.Errorf("%s has no %s declaration (a YAML file with apiVersion %s and kind %s)",
			dir, fnv1alpha1.AVSExecutorKind, fnv1alpha1.GroupVersion, fnv1alpha1.AVSExecutorKind)
	}
	return d, nil
}

// namedFunction says which function n's annotations name, or "" when they name none.
func namedFunction(n *yaml.RNode) string {
	for _, a := range functionAnnotations {
		v, ok := n.GetAnnotations()[a]
		if !ok {
			continue
		}
		spec, err := yaml.Parse(v)
		if err != nil {
			return "of an unreadable " + a + " annotation"
		}
		if p, _ := spec.GetString("exec.path"); p != "" {
			return fmt.Sprintf("exec.path %q", p)
		}
		if img, _ := spec.GetString("container.image"); img != "" {
			return fmt.Sprintf("container image %q", img)
		}
		return "of the " + a + " annotation"
	}
	return ""
}

// isThisFunction reports whether n's function annotation names this function by its binary:
// exec.path ending in avs-executor-fn, as the examples write it, and nothing else.
func isThisFunction(n *yaml.RNode) bool {
	for _, a := range functionAnnotations {
		v, ok := n.GetAnnotations()[a]
		if !ok {
			continue
		}
		spec, err := yaml.Parse(v)
		if err != nil {
			return false
		}
		p, _ := spec.GetString("exec.path")
		args, _ := spec.Pipe(yaml.Lookup("exec", "args"))
		if filepath.Base(p) != FunctionName || args != nil {
			return false
		}
		if img, _ := spec.GetString("container.image"); img != "" {
			return false
		}
	}
	return true
}

// clearLocalAnnotations drops what the reader added, so the declaration is written out as it was.
func clearLocalAnnotations(n *yaml.RNode) {
	for _, a := range []string{kioutil.PathAnnotation, kioutil.IndexAnnotation, kioutil.LegacyPathAnnotation, kioutil.LegacyIndexAnnotation,
		kioutil.SeqIndentAnnotation, kioutil.IdAnnotation, kioutil.LegacyIdAnnotation} {
		_ = n.PipeE(yaml.ClearAnnotation(a))
	}
}

// isKind reports whether n is a kind of the function's API group and version.
func isKind(n *yaml.RNode, kind string) bool {
	return n.GetKind() == kind && n.GetApiVersion() == fnv1alpha1.GroupVersion.String()
}

// groupOf is the API group of apiVersion, "" for the core group.
func groupOf(apiVersion string) string {
	if i := strings.LastIndex(apiVersion, "/"); i >= 0 {
		return apiVersion[:i]
	}
	return ""
}

// yamlFiles are the YAML files directly in dir, in name order.
func yamlFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range entries {
		if e.Type().IsRegular() && (strings.HasSuffix(e.Name(), ".yaml") || strings.HasSuffix(e.Name(), ".yml")) {
			files = append(files, filepath.Join(dir, e.Name()))
		}
	}
	slices.Sort(files)
	return files, nil
}

// read parses the objects of a YAML file, without kyaml's reader annotations.
func read(file string) ([]*yaml.RNode, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	nodes, err := (&kio.ByteReader{Reader: bytes.NewReader(b), OmitReaderAnnotations: true}).Read()
	if err != nil {
		return nil, fmt.Errorf("not YAML that the plugin can read: %w", err)
	}
	return nodes, nil
}

// write writes n to file, readable by its owner alone: it may hold keys.
func write(file string, n *yaml.RNode) error {
	s, err := n.String()
	if err != nil {
		return err
	}
	return os.WriteFile(file, []byte(s), 0o600)
}

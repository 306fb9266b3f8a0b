// Package gitops lays out, on a loopback Git server, the two repositories a Flux user of the
// product has: this repository's install assets, tagged as a release (what
// examples/flux/operator.yaml installs), and the user's own GitOps repository in the layout
// examples/flux/README.md describes, with executors/<name>/ declarations and the rendered/
// output that CI writes with the KRM function (examples/flux/ci/render-and-commit.yaml).
package gitops

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/hourglass-gitops/hourglass-gitops/test/framework/cluster"
	"github.com/hourglass-gitops/hourglass-gitops/test/framework/gitserver"
)

// Release is the tag examples/flux/operator.yaml installs.
const Release = "v0.1.0"

// PublishOperator pushes this repository's base/ and overlays/ to the repository name on srv,
// committed on main and tagged Release, and returns its clone URL.
func PublishOperator(ctx context.Context, srv *gitserver.Server, root, work, name string) (string, error) {
	r, err := srv.NewRepo(ctx, name, work)
	if err != nil {
		return "", err
	}
	for _, d := range []string{"base", "overlays"} {
		if err := os.CopyFS(filepath.Join(work, d), os.DirFS(filepath.Join(root, d))); err != nil {
			return "", fmt.Errorf("copying %s: %w", d, err)
		}
	}
	if _, err := r.Commit(ctx, "Release "+Release); err != nil {
		return "", err
	}
	if err := r.Tag(ctx, Release); err != nil {
		return "", err
	}
	return srv.URL(name), nil
}

// Executors is the user's GitOps repository.
type Executors struct {
	Repo *gitserver.Repo
	URL  string
	root string
}

// NewExecutors creates the repository name on srv with a work tree in work, holding a copy of
// each named example folder of this repository under executors/<example>/. The KRM function the
// declarations name (../../bin/avs-executor-fn) is linked into the work tree's bin/, which is
// not committed. Nothing is rendered or committed yet.
func NewExecutors(ctx context.Context, srv *gitserver.Server, root, work, name string, examples []string) (*Executors, error) {
	r, err := srv.NewRepo(ctx, name, work)
	if err != nil {
		return nil, err
	}
	e := &Executors{Repo: r, URL: srv.URL(name), root: root}
	for _, ex := range examples {
		if err := os.CopyFS(filepath.Join(work, "executors", ex), os.DirFS(filepath.Join(root, "examples", ex))); err != nil {
			return nil, fmt.Errorf("copying example %s: %w", ex, err)
		}
	}
	if err := os.MkdirAll(filepath.Join(work, "bin"), 0o755); err != nil {
		return nil, err
	}
	if err := os.Symlink(cluster.FunctionBinary(root), filepath.Join(work, "bin", "avs-executor-fn")); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(work, ".gitignore"), []byte("/bin/\n"), 0o644); err != nil {
		return nil, err
	}
	return e, nil
}

// Names lists the declarations under executors/, sorted.
func (e *Executors) Names() ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(e.Repo.Work, "executors"))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, d := range entries {
		if d.IsDir() {
			out = append(out, d.Name())
		}
	}
	sort.Strings(out)
	return out, nil
}

// Render does what the CI workflow does: renders every executors/<name>/ with the kustomize CLI
// and the KRM function into rendered/<name>.yaml (and removes the output of declarations that
// are gone). It returns the rendered objects by name.
func (e *Executors) Render(ctx context.Context) (map[string][]*unstructured.Unstructured, error) {
	names, err := e.Names()
	if err != nil {
		return nil, err
	}
	out := filepath.Join(e.Repo.Work, "rendered")
	if err := os.RemoveAll(out); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, err
	}
	objs := map[string][]*unstructured.Unstructured{}
	for _, name := range names {
		b, err := cluster.Build(ctx, e.root, filepath.Join(e.Repo.Work, "executors", name), true)
		if err != nil {
			return nil, err
		}
		if objs[name], err = cluster.ReadObjects(b); err != nil {
			return nil, fmt.Errorf("rendered %s: %w", name, err)
		}
		if err := os.WriteFile(filepath.Join(out, name+".yaml"), b, 0o644); err != nil {
			return nil, err
		}
	}
	return objs, nil
}

// RenderedFile is the rendered output of declaration name in the work tree.
func (e *Executors) RenderedFile(name string) string {
	return filepath.Join(e.Repo.Work, "rendered", name+".yaml")
}

// Commit commits and pushes the work tree and returns the revision Flux reports for it
// (main@sha1:<hash>).
func (e *Executors) Commit(ctx context.Context, message string) (string, error) {
	hash, err := e.Repo.Commit(ctx, message)
	if err != nil {
		return "", err
	}
	return "main@sha1:" + hash, nil
}

// Remove deletes the declaration name from executors/.
func (e *Executors) Remove(name string) error {
	return os.RemoveAll(filepath.Join(e.Repo.Work, "executors", name))
}

// EditDeclaration rewrites the AVSExecutor declaration of executors/<name>/ with edit.
func (e *Executors) EditDeclaration(name string, edit func(decl *unstructured.Unstructured) error) error {
	dir := filepath.Join(e.Repo.Work, "executors", name)
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return err
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var u unstructured.Unstructured
		if err := yaml.Unmarshal(b, &u.Object); err != nil || u.GetKind() != "AVSExecutor" {
			continue
		}
		if err := edit(&u); err != nil {
			return fmt.Errorf("editing %s: %w", f, err)
		}
		b, err = yaml.Marshal(u.Object)
		if err != nil {
			return err
		}
		return os.WriteFile(f, b, 0o644)
	}
	return fmt.Errorf("no AVSExecutor declaration in %s", dir)
}

// SupportedAVS returns the supportedAvs entry named avs of an AVSExecutor declaration, for edits.
func SupportedAVS(decl *unstructured.Unstructured, avs string) (map[string]any, func() error, error) {
	list, _, err := unstructured.NestedSlice(decl.Object, "spec", "avs", "supportedAvs")
	if err != nil {
		return nil, nil, err
	}
	var names []string
	for _, item := range list {
		m, _ := item.(map[string]any)
		if m["name"] == avs {
			save := func() error { return unstructured.SetNestedSlice(decl.Object, list, "spec", "avs", "supportedAvs") }
			return m, save, nil
		}
		n, _ := m["name"].(string)
		names = append(names, n)
	}
	return nil, nil, fmt.Errorf("%s declares no AVS %q (it has %s)", decl.GetName(), avs, strings.Join(names, ", "))
}

package avsexecutor

import (
	"fmt"
	"sort"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/fn/framework"
	"sigs.k8s.io/kustomize/kyaml/kio/kioutil"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/hourglass-gitops/hourglass-gitops/functions/strictyaml"
)

// problems collects results about one input resource.
type problems struct {
	results *framework.Results
	ref     *yaml.ResourceIdentifier
	file    *framework.File
	// undecoded are the paths the decoder could not read; further messages about them or
	// their parts would only repeat the decoder's.
	undecoded []string
}

func problemsFor(results *framework.Results, obj *yaml.RNode) *problems {
	p := &problems{results: results, ref: &yaml.ResourceIdentifier{
		TypeMeta: yaml.TypeMeta{APIVersion: obj.GetApiVersion(), Kind: obj.GetKind()},
		NameMeta: yaml.NameMeta{Name: obj.GetName(), Namespace: obj.GetNamespace()},
	}}
	// kpt reads the function config from a package file; naming it helps in large packages.
	if path, ok := obj.GetAnnotations()[kioutil.PathAnnotation]; ok {
		p.file = &framework.File{Path: path}
	}
	return p
}

func (p *problems) add(sev framework.Severity, field, msg string) {
	for _, u := range p.undecoded {
		if within(field, u) || within(u, field) {
			return
		}
	}
	r := &framework.Result{Message: msg, Severity: sev, ResourceRef: p.ref, File: p.file}
	if field != "" {
		r.Field = &framework.Field{Path: field}
	}
	*p.results = append(*p.results, r)
}

func (p *problems) errorf(field, format string, args ...any) {
	p.add(framework.Error, field, fmt.Sprintf(format, args...))
}

func (p *problems) warnf(field, format string, args ...any) {
	p.add(framework.Warning, field, fmt.Sprintf(format, args...))
}

func (p *problems) decodeErrors(errs []strictyaml.FieldError) {
	for _, e := range errs {
		p.errorf(e.Path, "%s", e.Message)
	}
	for _, e := range errs {
		p.undecoded = append(p.undecoded, e.Path)
	}
}

// within reports whether path is field or one of its parts.
func within(path, field string) bool {
	if field == "" || !strings.HasPrefix(path, field) {
		return false
	}
	rest := path[len(field):]
	return rest == "" || rest[0] == '.' || rest[0] == '['
}

// count is the number of error results so far.
func count(results framework.Results) int {
	n := 0
	for _, r := range results {
		if r.Severity == framework.Error {
			n++
		}
	}
	return n
}

func join(path, field string) string { return strictyaml.Join(path, field) }

func key(path, k string) string { return strictyaml.Key(path, k) }

func sortedKeys[K ~string, V any](m map[K]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, string(k))
	}
	sort.Strings(keys)
	return keys
}

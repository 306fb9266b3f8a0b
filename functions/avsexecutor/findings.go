package avsexecutor

import (
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/kustomize/kyaml/fn/framework"
	"sigs.k8s.io/kustomize/kyaml/kio/kioutil"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/hourglass-gitops/hourglass-gitops/functions/redact"
)

// findings are what the stages found about one input object, as field errors whose Detail is a
// whole sentence. results is the one place that turns them into the function's results.
type findings struct {
	obj *yaml.RNode
	// decoded are the fields the strict decoder could not read; findings about them or their
	// parts would only repeat the decoder's.
	decoded field.ErrorList
	// schema are the generated schema's findings; a finding of a later stage at the same field
	// says the same more precisely.
	schema field.ErrorList
	errs   field.ErrorList
	warns  field.ErrorList
}

// report is every object's findings, in the order the objects were first named.
type report struct {
	list []*findings
	// secrets are values of the input that look like key material or credentials. Messages
	// describe values rather than repeat them; these are taken out of any message that would
	// repeat one all the same.
	secrets []string
}

// hide adds the values of the scalars under n that look like key material or credentials to
// what results never repeats.
func (r *report) hide(n *yaml.RNode) {
	if n == nil || n.YNode() == nil {
		return
	}
	var walk func(*yaml.Node)
	walk = func(y *yaml.Node) {
		if y.Kind == yaml.ScalarNode && len(y.Value) >= 16 && (redact.LooksSecret(y.Value) || looksLikeKeyMaterial(y.Value)) {
			r.secrets = append(r.secrets, y.Value)
		}
		for _, c := range y.Content {
			walk(c)
		}
	}
	walk(n.YNode())
}

// scrub takes the hidden values out of a message.
func (r *report) scrub(msg string) string {
	for _, s := range r.secrets {
		if strings.Contains(msg, s) {
			msg = strings.ReplaceAll(msg, s, redact.String(s))
		}
	}
	return msg
}

// about returns the findings about obj (nil: the ResourceList as a whole).
func (r *report) about(obj *yaml.RNode) *findings {
	for _, f := range r.list {
		if f.obj == obj {
			return f
		}
	}
	f := &findings{obj: obj}
	r.list = append(r.list, f)
	return f
}

// merge adds another stage's report.
func (r *report) merge(other *report) {
	for _, o := range other.list {
		f := r.about(o.obj)
		f.decoded = append(f.decoded, o.decoded...)
		f.schema = append(f.schema, o.schema...)
		f.errs = append(f.errs, o.errs...)
		f.warns = append(f.warns, o.warns...)
	}
	r.secrets = append(r.secrets, other.secrets...)
}

// failed reports whether any object has an error.
func (r *report) failed() bool {
	for _, f := range r.list {
		if len(f.decoded)+len(f.schema)+len(f.errs) > 0 {
			return true
		}
	}
	return false
}

// results turns the findings into kyaml results: one per problem, naming the object (and the
// package file kpt read it from) and the field.
func (r *report) results() framework.Results {
	var out framework.Results
	for _, f := range r.list {
		var ref *yaml.ResourceIdentifier
		var file *framework.File
		if f.obj != nil {
			ref = &yaml.ResourceIdentifier{
				TypeMeta: yaml.TypeMeta{APIVersion: f.obj.GetApiVersion(), Kind: f.obj.GetKind()},
				NameMeta: yaml.NameMeta{Name: refName(f.obj.GetName()), Namespace: refName(f.obj.GetNamespace())},
			}
			// kpt reads the function config from a package file; naming it helps in large packages.
			if path, ok := f.obj.GetAnnotations()[kioutil.PathAnnotation]; ok {
				file = &framework.File{Path: path}
			}
		}
		add := func(sev framework.Severity, e *field.Error) {
			res := &framework.Result{Message: r.scrub(e.Detail), Severity: sev, ResourceRef: ref, File: file}
			if p := pathOf(e); p != "" {
				res.Field = &framework.Field{Path: r.scrub(p)}
			}
			out = append(out, res)
		}
		for _, e := range f.decoded {
			add(framework.Error, e)
		}
		for _, e := range f.schema {
			if !f.restated(e) && !f.repeats(e) {
				add(framework.Error, e)
			}
		}
		for _, e := range f.errs {
			if !f.repeats(e) {
				add(framework.Error, e)
			}
		}
		for _, e := range f.warns {
			if !f.repeats(e) {
				add(framework.Warning, e)
			}
		}
	}
	return out
}

// refName is an object's name or namespace for a result: as it is when it is a valid name, else
// as redact describes it (the result about the name says what is wrong with it).
func refName(name string) string {
	if name == "" || len(validation.IsDNS1123Subdomain(name)) == 0 && !redact.LooksSecret(name) {
		return name
	}
	return redact.String(name)
}

// repeats reports whether e is about a field the decoder could not read, or a part of one. When
// the decoder could not read the object at all, every other finding is a consequence.
func (f *findings) repeats(e *field.Error) bool {
	for _, d := range f.decoded {
		if pathOf(d) == "" || within(pathOf(e), pathOf(d)) || within(pathOf(d), pathOf(e)) {
			return true
		}
	}
	return false
}

// restated reports whether a later stage said more precisely what the schema error e says: it
// found a problem with the same field or a part of it.
func (f *findings) restated(e *field.Error) bool {
	for _, x := range f.errs {
		if within(pathOf(x), pathOf(e)) {
			return true
		}
	}
	return false
}

// pathOf is the field path of e; errors about the object as a whole have none.
func pathOf(e *field.Error) string {
	if e.Field == "<nil>" { // what a nil *field.Path prints
		return ""
	}
	return e.Field
}

// within reports whether path is field or one of its parts.
func within(path, field string) bool {
	if field == "" || !strings.HasPrefix(path, field) {
		return false
	}
	rest := path[len(field):]
	return rest == "" || rest[0] == '.' || rest[0] == '['
}

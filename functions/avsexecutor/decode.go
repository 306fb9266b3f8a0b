package avsexecutor

import (
	"encoding/json"

	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	fnv1alpha1 "github.com/hourglass-gitops/hourglass-gitops/api/fn/v1alpha1"
	"github.com/hourglass-gitops/hourglass-gitops/functions/schema"
	"github.com/hourglass-gitops/hourglass-gitops/functions/strictyaml"
)

// input is the function's input as typed objects: the declaration and the PerformerProfile
// resources among the items.
type input struct {
	declNode *yaml.RNode
	decl     *fnv1alpha1.AVSExecutor
	profiles []profileResource
	items    []*yaml.RNode
}

// profileResource is a PerformerProfile of the input.
type profileResource struct {
	node    *yaml.RNode
	profile *fnv1alpha1.PerformerProfile
	// broken is set when the resource could not be read completely; the problems are reported
	// where it is defined, and AVSs that use it are not checked further.
	broken bool
}

// decode reads the function config as an AVSExecutor and the items' PerformerProfiles, strictly
// (unknown fields, wrong types) and against the generated schema (ranges, patterns, enums,
// required fields). in.decl is nil when there is no declaration to work with.
func decode(fc *yaml.RNode, items []*yaml.RNode) (input, *report) {
	rep := &report{}
	rep.hide(fc)
	in := input{declNode: fc, items: items}
	if fc == nil || fc.IsNilOrEmpty() {
		rep.about(nil).errs = field.ErrorList{field.Required(field.NewPath("functionConfig"),
			"no function config: give an "+fnv1alpha1.GroupVersion.String()+" AVSExecutor declaration as the function config")}
		return in, rep
	}
	if !isObject(fc) {
		rep.about(nil).errs = field.ErrorList{field.Invalid(field.NewPath("functionConfig"), nil,
			"the function config is no object: give an "+fnv1alpha1.GroupVersion.String()+" AVSExecutor declaration as the function config")}
		return in, rep
	}
	if fc.GetApiVersion() != fnv1alpha1.GroupVersion.String() || fc.GetKind() != fnv1alpha1.AVSExecutorKind {
		// The path names the field to change: kind, unless only the apiVersion is wrong.
		p, v := field.NewPath("kind"), fc.GetKind()
		if v == fnv1alpha1.AVSExecutorKind {
			p, v = field.NewPath("apiVersion"), fc.GetApiVersion()
		}
		rep.about(fc).errs = field.ErrorList{field.Invalid(p, v, "the function config is a "+fc.GetApiVersion()+" "+fc.GetKind()+
			"; it must be a "+fnv1alpha1.GroupVersion.String()+" "+fnv1alpha1.AVSExecutorKind)}
		return in, rep
	}
	in.decl = &fnv1alpha1.AVSExecutor{}
	decodeObject(fc, in.decl, fnv1alpha1.AVSExecutorKind, rep.about(fc))

	for _, it := range items {
		if !isObject(it) || it.GetKind() != fnv1alpha1.PerformerProfileKind || groupOf(it.GetApiVersion()) != fnv1alpha1.GroupVersion.Group {
			continue
		}
		f := rep.about(it)
		if it.GetApiVersion() != fnv1alpha1.GroupVersion.String() {
			f.errs = append(f.errs, field.Invalid(field.NewPath("apiVersion"), it.GetApiVersion(),
				"unknown version \""+it.GetApiVersion()+"\" of PerformerProfile; this function reads "+fnv1alpha1.GroupVersion.String()))
			continue
		}
		rep.hide(it)
		pr := profileResource{node: it, profile: &fnv1alpha1.PerformerProfile{}}
		decodeObject(it, pr.profile, fnv1alpha1.PerformerProfileKind, f)
		pr.broken = len(f.decoded)+len(f.schema) > 0
		in.profiles = append(in.profiles, pr)
	}
	return in, rep
}

// decodeObject decodes obj into out and checks it against the schema of kind.
func decodeObject(obj *yaml.RNode, out any, kind string, f *findings) {
	errs, b := strictyaml.DecodeJSON(obj, out)
	f.decoded = append(f.decoded, errs...)
	for _, e := range errs {
		if pathOf(e) == "" {
			return // the object could not be read at all
		}
	}
	v, err := schema.For(kind)
	if err != nil {
		f.errs = append(f.errs, field.InternalError(nil, err))
		return
	}
	// Without problems the strict decoder has converted obj already; otherwise the schema is
	// checked on obj as written, fields left out by the decoder included.
	if b == nil {
		b, err = obj.MarshalJSON()
	}
	var raw map[string]any
	if err == nil {
		err = json.Unmarshal(b, &raw)
	}
	if err != nil {
		return // the strict decoder has said what is wrong
	}
	f.schema = append(f.schema, v.Validate(raw)...)
}

// isObject reports whether n is a YAML mapping that kyaml's accessors can read; kpt and kustomize
// hand over nothing else, but a function must not crash on what it is given.
func isObject(n *yaml.RNode) bool {
	y := n.YNode()
	return y != nil && y.Kind == yaml.MappingNode && len(y.Content)%2 == 0
}

// groupOf is the API group of apiVersion, "" for the core group.
func groupOf(apiVersion string) string {
	for i := len(apiVersion) - 1; i >= 0; i-- {
		if apiVersion[i] == '/' {
			return apiVersion[:i]
		}
	}
	return ""
}

// Package avsexecutor is the avs-executor KRM function: it turns an AVSExecutor declaration into
// the executor StatefulSet, its Services, RBAC and configuration, and one Performer per AVS.
//
// The function works as a kustomize generator (the declaration is its only input), as a kustomize
// transformer or kpt function (the input holds the whole package, including PerformerProfile
// resources). Objects it rendered before carry DeclarationAnnotation and are replaced, so running
// it on its own output changes nothing; every other input object passes through untouched.
package avsexecutor

import (
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/kustomize/kyaml/fn/framework"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// Processor is the function's framework.ResourceListProcessor.
type Processor struct{}

// Process renders the declaration in rl.FunctionConfig. When anything is wrong it adds one error
// result per problem, leaves the items as they were and returns the results, so that the function
// exits non-zero and emits nothing new.
func (Processor) Process(rl *framework.ResourceList) error {
	out, rep := run(rl.FunctionConfig, rl.Items)
	rl.Results = append(rl.Results, rep.results()...)
	if rep.failed() {
		return rl.Results
	}
	rl.Items = out
	return nil
}

// run takes the input through the function's stages: decode (typed objects, checked against the
// schema), resolve (the model: defaults, profiles, hardware), render (the objects), and puts the
// rendered objects in place of those rendered from the declaration before. It returns the new
// item list, which is complete only when the report has no errors.
func run(fc *yaml.RNode, items []*yaml.RNode) ([]*yaml.RNode, *report) {
	in, rep := decode(fc, items)
	if in.decl == nil {
		return nil, rep
	}
	m, resolved := resolve(in)
	rep.merge(resolved)
	if rep.failed() {
		return nil, rep
	}
	f := rep.about(fc)
	objs, err := render(m)
	var tooBig *tooBigError
	switch {
	case errors.As(err, &tooBig):
		f.errs = append(f.errs, &field.Error{Type: field.ErrorTypeTooMany, Field: "spec.avs.supportedAvs", BadValue: len(m.avss), Detail: err.Error()})
		return nil, rep
	case err != nil:
		f.errs = append(f.errs, &field.Error{Type: field.ErrorTypeInternal, Detail: "rendering failed: " + err.Error()})
		return nil, rep
	}
	out, dropped, errs := replace(items, objs, m.id)
	f.errs = append(f.errs, errs...)
	for _, d := range dropped {
		rep.about(d).warns = append(rep.about(d).warns, field.Invalid(nil, nil, fmt.Sprintf(
			"%s %s was rendered from this declaration before and is rendered no longer, so it is left out of the output; "+
				"the GitOps engine will delete it from the cluster if it prunes", d.GetKind(), displayName(d))))
	}
	return out, rep
}

// replace puts the rendered objects in place of those rendered from the declaration before, and
// returns those it renders no longer (an AVS removed from the declaration, say) as dropped;
// anything else with the name of a rendered object would be duplicated, which kustomize and kpt
// refuse.
func replace(items, objs []*yaml.RNode, id string) (out, dropped []*yaml.RNode, errs field.ErrorList) {
	rendered := map[string]bool{}
	for _, o := range objs {
		rendered[identity(o)] = true
	}
	for _, it := range items {
		if !isObject(it) {
			out = append(out, it)
			continue
		}
		if it.GetAnnotations()[DeclarationAnnotation] == id {
			if !rendered[identity(it)] {
				dropped = append(dropped, it)
			}
			continue
		}
		if rendered[identity(it)] {
			errs = append(errs, duplicate(field.NewPath("metadata", "name"), identity(it), fmt.Sprintf("the input already has %s %s, which this declaration renders; rename one of them", it.GetKind(), displayName(it))))
			continue
		}
		out = append(out, it)
	}
	return append(out, objs...), dropped, errs
}

// identity names an object by group, kind, namespace and name, as the API server tells objects
// apart (the version aside).
func identity(n *yaml.RNode) string {
	return groupOf(n.GetApiVersion()) + "/" + n.GetKind() + "/" + n.GetNamespace() + "/" + n.GetName()
}

// displayName is namespace/name, or the name of a cluster-scoped object, for messages.
func displayName(n *yaml.RNode) string {
	if ns := n.GetNamespace(); ns != "" {
		return ns + "/" + n.GetName()
	}
	return n.GetName()
}

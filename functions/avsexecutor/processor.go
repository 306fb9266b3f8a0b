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

	"sigs.k8s.io/kustomize/kyaml/fn/framework"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	fnv1alpha1 "github.com/hourglass-gitops/hourglass-gitops/api/fn/v1alpha1"
	"github.com/hourglass-gitops/hourglass-gitops/functions/profiles"
	"github.com/hourglass-gitops/hourglass-gitops/functions/strictyaml"
)

const localConfigAnnotation = "config.kubernetes.io/local-config"

// Processor is the function's framework.ResourceListProcessor.
type Processor struct{}

// Process renders the declaration in rl.FunctionConfig. When anything is wrong it adds one error
// result per problem, leaves the items as they were and returns the results, so that the function
// exits non-zero and emits nothing new.
func (Processor) Process(rl *framework.ResourceList) error {
	var results framework.Results
	objs := run(rl, &results)
	rl.Results = append(rl.Results, results...)
	if count(results) > 0 {
		return rl.Results
	}
	rl.Items = objs
	return nil
}

// run returns the new item list, or nil when there were errors.
func run(rl *framework.ResourceList, results *framework.Results) []*yaml.RNode {
	fc := rl.FunctionConfig
	if fc == nil || fc.IsNilOrEmpty() {
		*results = append(*results, &framework.Result{Severity: framework.Error,
			Message: "no function config: give an " + fnv1alpha1.GroupVersion.String() + " AVSExecutor declaration as the function config"})
		return nil
	}
	if !isObject(fc) {
		*results = append(*results, &framework.Result{Severity: framework.Error,
			Message: "the function config is no object: give an " + fnv1alpha1.GroupVersion.String() + " AVSExecutor declaration as the function config"})
		return nil
	}
	p := problemsFor(results, fc)
	if fc.GetApiVersion() != fnv1alpha1.GroupVersion.String() || fc.GetKind() != fnv1alpha1.AVSExecutorKind {
		p.errorf("", "the function config is a %s %s; it must be a %s %s",
			fc.GetApiVersion(), fc.GetKind(), fnv1alpha1.GroupVersion.String(), fnv1alpha1.AVSExecutorKind)
		return nil
	}
	decl := &fnv1alpha1.AVSExecutor{}
	p.decodeErrors(strictyaml.Decode(fc, decl))

	set, broken := profileSet(decl, rl.Items, p, results)
	m := validate(decl, set, broken, p)
	if m == nil || count(*results) > 0 {
		return nil
	}
	objs, err := render(m)
	var tooBig *configTooBigError
	if errors.As(err, &tooBig) {
		p.errorf("spec.avs.supportedAvs", "%v", err)
		return nil
	}
	if err != nil {
		p.errorf("", "rendering failed: %v", err)
		return nil
	}

	// Objects rendered from this declaration before are replaced; anything else with the name of
	// a rendered object would be duplicated, which kustomize and kpt refuse.
	rendered := map[string]bool{}
	for _, o := range objs {
		rendered[identity(o)] = true
	}
	var out []*yaml.RNode
	for _, it := range rl.Items {
		if !isObject(it) {
			out = append(out, it)
			continue
		}
		if it.GetAnnotations()[DeclarationAnnotation] == m.id {
			continue
		}
		if rendered[identity(it)] {
			p.errorf("", "the input already has %s %s, which this declaration renders; rename one of them", it.GetKind(), displayName(it))
			continue
		}
		out = append(out, it)
	}
	if count(*results) > 0 {
		return nil
	}
	return append(out, objs...)
}

// profileSet gathers the built-in profiles, the declaration's custom profiles and the
// PerformerProfile resources of the input. A name may be defined once. Profiles with problems are
// returned as broken: their problems are reported once, where they are defined.
func profileSet(decl *fnv1alpha1.AVSExecutor, items []*yaml.RNode, p *problems, results *framework.Results) (map[string]profiles.Profile, map[string]bool) {
	set := profiles.BuiltIn(decl.Spec.ProfileParameters)
	broken := map[string]bool{}
	validateBottlerocket(decl.Spec.ProfileParameters, p)
	define := func(pr profiles.Profile, at *problems, field string) {
		if old, dup := set[pr.Name]; dup {
			if old.Origin == "built-in" {
				at.errorf(field, "profile %q is built in; give the custom profile another name", pr.Name)
			} else {
				at.errorf(field, "profile %q is defined twice: here and in %s", pr.Name, old.Origin)
			}
			return
		}
		set[pr.Name] = pr
	}
	for i, cp := range decl.Spec.CustomProfiles {
		f := fmt.Sprintf("spec.customProfiles[%d]", i)
		if !validName(cp.Name) {
			p.errorf(join(f, "name"), "%q is no valid profile name (lower case letters, digits and '-')", cp.Name)
			continue
		}
		before := count(*results)
		validateProfile(&cp.PerformerProfileSpec, f, p)
		if count(*results) > before {
			broken[cp.Name] = true
		}
		define(profiles.Profile{Name: cp.Name, Origin: "AVSExecutor " + decl.Name + " " + f, Spec: cp.PerformerProfileSpec}, p, join(f, "name"))
	}
	for _, it := range items {
		if !isObject(it) || it.GetKind() != fnv1alpha1.PerformerProfileKind || groupOf(it.GetApiVersion()) != fnv1alpha1.GroupVersion.Group {
			continue
		}
		ip := problemsFor(results, it)
		if it.GetApiVersion() != fnv1alpha1.GroupVersion.String() {
			ip.errorf("apiVersion", "unknown version %q of PerformerProfile; this function reads %s", it.GetApiVersion(), fnv1alpha1.GroupVersion.String())
			continue
		}
		pp := &fnv1alpha1.PerformerProfile{}
		before := count(*results)
		ip.decodeErrors(strictyaml.Decode(it, pp))
		if !validName(pp.Name) {
			ip.errorf("metadata.name", "%q is no valid profile name (lower case letters, digits and '-')", pp.Name)
			continue
		}
		validateProfile(&pp.Spec, "spec", ip)
		if count(*results) > before {
			broken[pp.Name] = true
		}
		if it.GetAnnotations()[localConfigAnnotation] != "true" {
			ip.warnf("metadata.annotations", "PerformerProfile %s is not marked %s: \"true\", so kustomize and kpt would apply it to the cluster, which has no such kind",
				pp.Name, localConfigAnnotation)
		}
		define(profiles.Profile{Name: pp.Name, Origin: "PerformerProfile " + displayName(it), Spec: pp.Spec}, ip, "metadata.name")
	}
	return set, broken
}

// isObject reports whether n is a YAML mapping that kyaml's accessors can read; kpt and kustomize
// hand over nothing else, but a function must not crash on what it is given.
func isObject(n *yaml.RNode) bool {
	y := n.YNode()
	return y != nil && y.Kind == yaml.MappingNode && len(y.Content)%2 == 0
}

func validName(n string) bool {
	if n == "" || len(n) > 63 {
		return false
	}
	for i, c := range n {
		ok := (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c == '-' && i > 0 && i < len(n)-1)
		if !ok {
			return false
		}
	}
	return true
}

func groupOf(apiVersion string) string {
	for i := len(apiVersion) - 1; i >= 0; i-- {
		if apiVersion[i] == '/' {
			return apiVersion[:i]
		}
	}
	return ""
}

func identity(n *yaml.RNode) string {
	return groupOf(n.GetApiVersion()) + "/" + n.GetKind() + "/" + n.GetNamespace() + "/" + n.GetName()
}

func displayName(n *yaml.RNode) string {
	if ns := n.GetNamespace(); ns != "" {
		return ns + "/" + n.GetName()
	}
	return n.GetName()
}

// Command crdbounds bounds every string, list and map of the Performer spec in the generated CRD
// that the API types cannot bound themselves: the insides of the Kubernetes types the spec embeds
// (resources, tolerations, affinity, security contexts, probes, environment sources) and the
// values of its maps. controller-gen writes the CRD; make manifests runs this after it.
//
// Bounds keep every Performer small: the controller holds all of them in memory, and without
// them a few hundred Performers of a megabyte each would exceed its memory limit at every start.
// The numbers are sized to what performers use (README: "Performer size limits"); a spec node left
// without a bound is an error, so a new field cannot slip through unbounded. Quantities must also
// parse as such (isQuantity), since one the controller cannot decode stops it from listing any.
//
//	go run ./hack/crdbounds base/crd/hourglass.eigenlayer.io_performers.yaml
package main

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"
)

// The numbers below and those of the API types (api/v1alpha1) together allow a Performer of
// about 53 KB of JSON at most (test/capacity measures it and the controller's memory with 1000 of
// them). Each is sized to what performers use, not to what Kubernetes allows, and the nested
// lists of affinity stay small because their sizes multiply.

// Lists of the embedded Kubernetes types, by their path under spec ("[]" is an item, "{}" a map
// value).
var listBounds = map[string]int64{
	// Dynamic resource claims: a handful at most.
	"resources.claims": 4,
	// Linux has 41 capabilities; restricted Pod Security allows adding only NET_BIND_SERVICE.
	"securityContext.capabilities.add":      8,
	"securityContext.capabilities.drop":     16,
	"podSecurityContext.supplementalGroups": 8,
	"podSecurityContext.sysctls":            4,
	// An exec probe's command and an HTTP probe's headers.
	"probes.liveness.exec.command":  4,
	"probes.readiness.exec.command": 4,
	// Only metadata.name can be matched by field: a few node names.
	"scheduling.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[].matchFields[].values": 4,
	"scheduling.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[].preference.matchFields[].values":       4,
	"probes.liveness.httpGet.httpHeaders":  2,
	"probes.readiness.httpGet.httpHeaders": 2,
	// Affinity: a required and a preferred node term of a few expressions (instance types,
	// zones); a required pod affinity term (next to a cache, say) and a required anti-affinity
	// term (apart from each other).
	"scheduling.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms": 1,
	"scheduling.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution":                  1,
	"scheduling.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution":                    1,
	"scheduling.affinity.podAffinity.preferredDuringSchedulingIgnoredDuringExecution":                   0,
	"scheduling.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution":                1,
	"scheduling.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution":               0,
}

// Lists bounded by their name wherever they occur (in node and label selectors).
var namedListBounds = map[string]int64{
	"matchExpressions":  3, // of any other selector
	"matchFields":       1, // only metadata.name can be matched
	"values":            4,
	"namespaces":        2,
	"matchLabelKeys":    2,
	"mismatchLabelKeys": 2,
}

// A pod affinity term's namespace selector is left empty: the term's own namespace, or the few
// its namespaces list, are where performers are.
var namespaceSelectorBounds = map[string]int64{"matchExpressions": 0, "matchLabels": 0}

// A node selector term: the user's expressions and the one hardware requirements add (a GPU
// family's products, five for nvidia-a100), with room for a few instance types or zones.
var nodeAffinityBounds = map[string]int64{"matchExpressions": 4, "values": 8}

// A pod affinity term's label selector: the performer's own labels do most of the selecting.
var labelSelectorBounds = map[string]int64{"matchExpressions": 2, "matchLabels": 2}

// Maps of the embedded types: label selectors' matchLabels and the resources' quantities.
var mapBounds = map[string]struct {
	entries, keyLength int64
	what               string
}{
	"matchLabels":        {4, 128, "label keys"},
	"resources.limits":   {8, 64, "resource names"},
	"resources.requests": {8, 64, "resource names"},
}

// Key lengths of the spec's own maps, whose entry counts the API types bound. The rules live here
// rather than on the types: the function's schema embeds the same types in lists it does not
// bound, where the API server would find their cost unbounded.
var keyBounds = map[string]struct {
	length int64
	what   string
}{
	"config.environment":                {64, "environment variable names"},
	"podAnnotations":                    {128, "annotation keys"},
	"scheduling.nodeSelector":           {128, "label keys"},
	"hardwareRequirements.customLabels": {128, "label keys"},
}

// Map values of the spec's own maps, whose counts the API types bound.
var valueBounds = map[string]int64{
	"config.environment{}":                256,
	"podAnnotations{}":                    256,
	"scheduling.nodeSelector{}":           63,
	"hardwareRequirements.customLabels{}": 63,
	// Capability names are at most 20 characters, sysctl values a number or two.
	"securityContext.capabilities.add[]":  32,
	"securityContext.capabilities.drop[]": 32,
	"podSecurityContext.sysctls[].value":  64,
	// Taint values are label values.
	"scheduling.tolerations[].value": 63,
	// A file's path within a volume.
	"config.environmentFrom[].valueFrom.fileKeyRef.path": 253,
	// Node names, the only field matchFields matches, are DNS subdomains.
	"scheduling.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[].matchFields[].values[]": 253,
	"scheduling.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[].preference.matchFields[].values[]":       253,
}

// String bounds by the field's name; any other string is at most 256 characters, more than any
// name, path or value the embedded types take from performers.
var stringBounds = map[string]int64{
	// Label keys (the longest well-known ones are about 60 characters) and label values, and
	// the keys of ConfigMaps and Secrets.
	"key":               128,
	"topologyKey":       128,
	"matchLabelKeys":    128,
	"mismatchLabelKeys": 128,
	"values":            63,
	// Object names, DNS subdomains; container and volume names and namespaces, DNS labels.
	"name":             253,
	"containerName":    63,
	"volumeName":       63,
	"localhostProfile": 253,
	"namespaces":       63,
	// Quantities and ports: a number with a unit, or a port's name.
	"divisor": 32,
	"port":    32,
	// Single words: enums of the Kubernetes API the schema does not list.
	"operator": 32, "effect": 32, "type": 32, "scheme": 32, "procMount": 32, "apiVersion": 32,
	"resource": 64, "fsGroupChangePolicy": 32, "seLinuxChangePolicy": 32, "supplementalGroupsPolicy": 32,
	"level": 64, "role": 64, "user": 64, "request": 64,
	// An HTTP probe's path.
	"path": 256,
	// Windows options, for completeness: performers run on Linux.
	"gmsaCredentialSpec": 128, "gmsaCredentialSpecName": 128, "runAsUserName": 128,
}

const defaultStringBound = 256

// main bounds the CRD file named by its argument in place.
func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: crdbounds CRD.yaml")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintf(os.Stderr, "crdbounds: %v\n", err)
		os.Exit(1)
	}
}

// run bounds the spec schema of every version of the CRD at path and writes it back.
func run(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var crd map[string]any
	if err := yaml.Unmarshal(b, &crd); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	versions, _ := dig(crd, "spec", "versions").([]any)
	if len(versions) == 0 {
		return fmt.Errorf("%s: no spec.versions", path)
	}
	for _, v := range versions {
		spec, ok := dig(v, "schema", "openAPIV3Schema", "properties", "spec").(map[string]any)
		if !ok {
			return fmt.Errorf("%s: no spec schema", path)
		}
		if err := bound(nil, spec); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	out, err := yaml.Marshal(crd)
	if err != nil {
		return err
	}
	return os.WriteFile(path, append([]byte("---\n"), out...), 0o644)
}

// dig follows keys through nested maps, nil where one is missing.
func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// bound sets the missing bounds of a schema node and its children, and fails on a node it has no
// bound for.
func bound(path []string, s map[string]any) error {
	p := strings.Join(path, ".")
	p = strings.ReplaceAll(p, ".[]", "[]")
	p = strings.ReplaceAll(p, ".{}", "{}")
	name := ""
	for i := len(path) - 1; i >= 0; i-- {
		if path[i] != "[]" && path[i] != "{}" {
			name = path[i]
			break
		}
	}
	intOrString, _ := s["x-kubernetes-int-or-string"].(bool)
	if s["pattern"] == quantityPattern && !hasRule(s, quantityRule) {
		// The pattern admits numbers no quantity holds ("1e9999999999999999999"), and a Performer
		// the controller cannot decode would stop it from listing any.
		addRule(s, quantityRule, "must be a quantity")
	}
	switch {
	case s["type"] == "string" || intOrString:
		boundString(s, p, name, intOrString)
	case s["type"] == "array":
		return boundList(path, p, name, s)
	case s["type"] == "object":
		if values, ok := s["additionalProperties"].(map[string]any); ok {
			return boundMap(path, p, name, s, values)
		}
		props, _ := s["properties"].(map[string]any)
		for _, k := range slices.Sorted(maps.Keys(props)) {
			if err := bound(append(slices.Clip(path), k), props[k].(map[string]any)); err != nil {
				return err
			}
		}
	}
	return nil
}

// boundString sets the length of a string (or int-or-string) at path p, named name, unless it has
// one or is an enum or a time.
func boundString(s map[string]any, p, name string, intOrString bool) {
	if _, ok := s["maxLength"]; ok || s["enum"] != nil || s["format"] == "date-time" {
		return
	}
	n, ok := valueBounds[p]
	if !ok {
		n, ok = stringBounds[name]
	}
	if !ok {
		n = defaultStringBound
	}
	if intOrString && n > 32 {
		n = 32
	}
	s["maxLength"] = n
}

// boundList sets the number of items of a list at path p, named name, and bounds its items.
func boundList(path []string, p, name string, s map[string]any) error {
	if _, ok := s["maxItems"]; !ok {
		n, ok := listBounds[p]
		if !ok && slices.Contains(path, "namespaceSelector") {
			n, ok = namespaceSelectorBounds[name]
		}
		if !ok && slices.Contains(path, "labelSelector") {
			n, ok = labelSelectorBounds[name]
		}
		if !ok && slices.Contains(path, "nodeAffinity") {
			n, ok = nodeAffinityBounds[name]
		}
		if !ok {
			n, ok = namedListBounds[name]
		}
		if !ok {
			return fmt.Errorf("spec.%s: a list without a bound", p)
		}
		s["maxItems"] = n
	}
	items, _ := s["items"].(map[string]any)
	if items == nil {
		return fmt.Errorf("spec.%s: a list without an item schema", p)
	}
	return bound(append(path, "[]"), items)
}

// boundMap sets the number of entries and the length of the keys of a map at path p, named name,
// and bounds its values.
func boundMap(path []string, p, name string, s, values map[string]any) error {
	if _, ok := s["maxProperties"]; !ok {
		m, ok := mapBounds[p]
		if !ok {
			m, ok = mapBounds[name]
			if n, sel := namespaceSelectorBounds[name]; sel && slices.Contains(path, "namespaceSelector") {
				m.entries = n
			}
			if n, sel := labelSelectorBounds[name]; sel && slices.Contains(path, "labelSelector") {
				m.entries = n
			}
		}
		if !ok {
			return fmt.Errorf("spec.%s: a map without a bound", p)
		}
		s["maxProperties"] = m.entries
		addRule(s, fmt.Sprintf("self.all(k, size(k) <= %d)", m.keyLength), fmt.Sprintf("%s must be at most %d characters", m.what, m.keyLength))
	}
	if k, ok := keyBounds[p]; ok && !hasKeyRule(s) {
		addRule(s, fmt.Sprintf("self.all(k, size(k) <= %d)", k.length), fmt.Sprintf("%s must be at most %d characters", k.what, k.length))
	}
	if !hasKeyRule(s) {
		return fmt.Errorf("spec.%s: a map without a bound on its keys", p)
	}
	return bound(append(path, "{}"), values)
}

// addRule adds a CEL validation rule with its message to schema node s.
func addRule(s map[string]any, rule, message string) {
	rules, _ := s["x-kubernetes-validations"].([]any)
	s["x-kubernetes-validations"] = append(rules, map[string]any{"rule": rule, "message": message})
}

// quantityPattern is the pattern controller-gen gives resource.Quantity.
const quantityPattern = `^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$`

const quantityRule = "type(self) == int || isQuantity(self)"

// hasRule reports whether schema node s has the CEL validation rule.
func hasRule(s map[string]any, rule string) bool {
	rules, _ := s["x-kubernetes-validations"].([]any)
	for _, r := range rules {
		if dig(r, "rule") == rule {
			return true
		}
	}
	return false
}

// hasKeyRule reports whether map schema node s bounds the length of its keys.
func hasKeyRule(s map[string]any) bool {
	rules, _ := s["x-kubernetes-validations"].([]any)
	for _, r := range rules {
		if rule, _ := dig(r, "rule").(string); strings.HasPrefix(rule, "self.all(k, size(k) <= ") {
			return true
		}
	}
	return false
}

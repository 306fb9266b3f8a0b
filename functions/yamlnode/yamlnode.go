// Package yamlnode turns what the function renders into the YAML nodes it writes: typed
// Kubernetes objects and plain values in the form the API machinery and yaml.v3 give them, with
// the head and the quoting people expect, and a bound on their JSON size that spares measuring
// it. It also reads ResourceLists that kyaml alone refuses. It knows nothing of the function's
// declarations.
package yamlnode

import (
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// FromObject converts a typed Kubernetes object to YAML through its unstructured form
// (runtime.DefaultUnstructuredConverter), without status and without the empty values typed
// structs carry (clean). Map keys come sorted, as kyaml writes them.
func FromObject(obj runtime.Object) (*yaml.Node, error) {
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, err
	}
	delete(u, "status")
	clean(u)
	n, err := yaml.FromMap(u)
	if err != nil {
		return nil, err
	}
	return n.YNode(), nil
}

// FromValue converts a value of plain Go types to YAML as yaml.v3 encodes it: fields in
// declaration order under their yaml tags.
func FromValue(v any) (*yaml.Node, error) {
	var n yaml.Node
	if err := n.Encode(v); err != nil {
		return nil, err
	}
	return &n, nil
}

// clean drops the nil values and the empty objects (but an emptyDir, whose presence means
// something) that typed Kubernetes structs carry into their unstructured form, such as an
// empty creationTimestamp.
func clean(v any) {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			clean(x)
			switch y := x.(type) {
			case nil:
				delete(t, k)
			case map[string]any:
				if len(y) == 0 && k != "emptyDir" {
					delete(t, k)
				}
			}
		}
	case []any:
		for _, x := range t {
			clean(x)
		}
	}
}

// Tidy puts apiVersion, kind and metadata first, as people write them, and quotes hex strings
// (QuoteHex).
func Tidy(n *yaml.Node) {
	QuoteHex(n)
	var head, rest []*yaml.Node
	for _, k := range []string{"apiVersion", "kind", "metadata"} {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				head = append(head, n.Content[i], n.Content[i+1])
			}
		}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		switch n.Content[i].Value {
		case "apiVersion", "kind", "metadata":
		default:
			rest = append(rest, n.Content[i], n.Content[i+1])
		}
	}
	n.Content = append(head, rest...)
}

// QuoteHex double-quotes every string under n that starts with 0x, such as an Ethereum address:
// YAML 1.1 readers would take it for a number.
func QuoteHex(n *yaml.Node) {
	if n.Kind == yaml.ScalarNode && n.ShortTag() == yaml.NodeTagString && strings.HasPrefix(n.Value, "0x") {
		n.Style = yaml.DoubleQuotedStyle
	}
	for _, c := range n.Content {
		QuoteHex(c)
	}
}

// JSONSizeBound returns a size that n's JSON form (RNode.MarshalJSON) does not exceed, or false
// for a node it cannot bound (aliases, merge keys, tags of its own). A string takes at most six
// bytes per byte escaped, and quotes; a number, boolean or null at most 40 bytes more than
// written. Bounding costs far less than marshalling, so a caller holding objects to a size
// marshals only those the bound does not clear.
func JSONSizeBound(n *yaml.Node) (int, bool) {
	switch n.Kind {
	case yaml.ScalarNode:
		switch n.Tag {
		case yaml.NodeTagString:
			return 2 + 6*len(n.Value), true
		case yaml.NodeTagInt, yaml.NodeTagBool, yaml.NodeTagNull:
			return 40 + len(n.Value), true
		}
		return 0, false
	case yaml.MappingNode, yaml.SequenceNode:
		size := 2 + len(n.Content) // brackets, and a colon or comma after each key or value
		for i, c := range n.Content {
			if n.Kind == yaml.MappingNode && i%2 == 0 && c.Value == "<<" {
				return 0, false
			}
			s, ok := JSONSizeBound(c)
			if !ok {
				return 0, false
			}
			size += s
		}
		return size, true
	}
	return 0, false
}

package yamlnode

import (
	"bytes"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// DerefTopLevelAliases makes a ResourceList whose functionConfig or items are YAML aliases
// (functionConfig: &cfg …, items: [*cfg]) readable: kyaml expects each of them to be an object
// and would refuse the list with "wrong node kind". Each such alias is replaced by a copy of what
// it names; a ResourceList without them is returned as it is, byte for byte. Input that is no
// YAML is returned unchanged too, for the framework to report.
func DerefTopLevelAliases(in []byte) []byte {
	if !bytes.Contains(in, []byte("*")) {
		return in
	}
	rl, err := yaml.Parse(string(in))
	if err != nil || rl.YNode().Kind != yaml.MappingNode {
		return in
	}
	changed := false
	deref := func(n *yaml.Node) *yaml.Node {
		if n.Kind != yaml.AliasNode || n.Alias == nil {
			return n
		}
		changed = true
		c := yaml.CopyYNode(n.Alias)
		c.Anchor = ""
		return c
	}
	content := rl.YNode().Content
	for i := 0; i+1 < len(content); i += 2 {
		switch content[i].Value {
		case "functionConfig":
			content[i+1] = deref(content[i+1])
		case "items":
			if list := deref(content[i+1]); list.Kind == yaml.SequenceNode {
				content[i+1] = list
				for j, it := range list.Content {
					list.Content[j] = deref(it)
				}
			}
		}
	}
	if !changed {
		return in
	}
	out, err := rl.String()
	if err != nil {
		return in
	}
	return []byte(out)
}

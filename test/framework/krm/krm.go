// Package krm reads what KRM function runners print, for the tests that compare their outputs.
package krm

import (
	"bytes"
	"fmt"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// ResourceListItems unwraps a ResourceList, as `kpt fn render|eval -o stdout` prints it, into its
// items as a multi-document YAML stream.
func ResourceListItems(out []byte) ([]byte, error) {
	rl, err := yaml.Parse(string(out))
	if err != nil {
		return nil, fmt.Errorf("the output is no ResourceList: %w\n%s", err, out)
	}
	items, err := rl.Pipe(yaml.Lookup("items"))
	if err != nil || items == nil {
		return nil, fmt.Errorf("the ResourceList has no items:\n%s", out)
	}
	var b bytes.Buffer
	for _, it := range items.Content() {
		s, err := yaml.NewRNode(it).String()
		if err != nil {
			return nil, err
		}
		b.WriteString("---\n" + s)
	}
	return b.Bytes(), nil
}

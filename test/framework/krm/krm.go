// Package krm reads what KRM function runners print, for the tests that compare their outputs.
package krm

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/kio"
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

// Applied returns the objects a tool would apply, keyed by apiVersion/kind/namespace/name: no
// local-config objects (function configs, profiles, Kptfiles, kustomizations) and none of the
// bookkeeping annotations tools add to find files. An object that appears twice is an error.
func Applied(out []byte) (map[string]map[string]any, error) {
	nodes, err := (&kio.ByteReader{Reader: bytes.NewReader(out), OmitReaderAnnotations: true}).Read()
	if err != nil {
		return nil, fmt.Errorf("cannot read the output: %w\n%s", err, out)
	}
	objs := map[string]map[string]any{}
	for _, n := range nodes {
		if n.GetAnnotations()["config.kubernetes.io/local-config"] == "true" {
			continue
		}
		m, err := n.Map()
		if err != nil {
			return nil, err
		}
		if md, ok := m["metadata"].(map[string]any); ok {
			if ann, ok := md["annotations"].(map[string]any); ok {
				for k := range ann {
					if bookkeeping(k) {
						delete(ann, k)
					}
				}
				if len(ann) == 0 {
					delete(md, "annotations")
				}
			}
		}
		key := fmt.Sprintf("%s/%s/%s/%s", n.GetApiVersion(), n.GetKind(), n.GetNamespace(), n.GetName())
		if _, dup := objs[key]; dup {
			return nil, fmt.Errorf("%s is in the output twice", key)
		}
		objs[key] = m
	}
	return objs, nil
}

// bookkeeping tells the annotations kustomize, kpt and kyaml add to track files and functions.
func bookkeeping(k string) bool {
	return strings.HasPrefix(k, "internal.config.kubernetes.io/") || k == "config.kubernetes.io/path" ||
		k == "config.kubernetes.io/index" || k == "config.k8s.io/id" || k == "kustomize.config.k8s.io/id"
}

// ItemsOf is ResourceListItems for a test: t cannot go on when out is no ResourceList.
func ItemsOf(t testing.TB, out []byte) []byte {
	t.Helper()
	items, err := ResourceListItems(out)
	if err != nil {
		t.Fatal(err)
	}
	return items
}

package avsexecutor

import (
	"fmt"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// BenchmarkEncoders compares the hand-written encoders with the library path they stand in for,
// at 1, 10 and 1,000 AVSs. The declaration is decoded and resolved before the clock starts; each
// iteration then times one conversion of everything the function writes:
//
//   - objects/direct and objects/library render every object, converting each typed object to a
//     YAML node with encodeObject or with runtime.DefaultUnstructuredConverter and kyaml's
//     FromMap (unstructuredNode); the size check of render runs in both;
//   - config/direct and config/library turn the executor configuration into a YAML node with
//     configDocument or with yaml.v3's Node.Encode.
//
// The clock stops when the last node is built; nothing is serialized.
func BenchmarkEncoders(b *testing.B) {
	for _, n := range []int{1, 10, 1000} {
		rl, err := parseResourceList(resourceList(b, declaration(n), nil))
		if err != nil {
			b.Fatal(err)
		}
		in, _ := decode(rl.FunctionConfig, rl.Items)
		m, resolved := resolve(in)
		if resolved.failed() {
			b.Fatal(resolved.results())
		}
		c := executorConfigOf(m)
		for _, p := range []struct {
			name string
			f    func() error
		}{
			{"objects/direct", func() error { _, err := renderWith(m, objectNode); return err }},
			{"objects/library", func() error { _, err := renderWith(m, unstructuredNode); return err }},
			{"config/direct", func() error { _, err := configDocument(c); return err }},
			{"config/library", func() error { var doc yaml.Node; return doc.Encode(c) }},
		} {
			b.Run(fmt.Sprintf("avs=%d/%s", n, p.name), func(b *testing.B) {
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if err := p.f(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

package avsexecutor

import (
	"bytes"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/fn/framework"
	"sigs.k8s.io/kustomize/kyaml/kio"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// FuzzProcess feeds arbitrary declarations and input objects to the processor: it may refuse
// them, but it must not panic, and it either renders or reports an error, never both.
// `go test` runs the seeds (every testdata case); `go test -fuzz FuzzProcess` explores.
func FuzzProcess(f *testing.F) {
	for _, tc := range testCases(f) {
		f.Add(tc.config, tc.input)
	}
	f.Add([]byte("apiVersion: fn.hourglass.eigenlayer.io/v1alpha1\nkind: AVSExecutor\nspec: []\n"), []byte(nil))
	f.Add([]byte("apiVersion: fn.hourglass.eigenlayer.io/v1alpha1\nkind: AVSExecutor\nmetadata: {name: a, namespace: b}\nspec: {avs: {supportedAvs: [~, 1, {profiles: [~]}]}, customProfiles: [{name: x, scheduling: {runtimeClass: ~}}]}\n"), []byte(nil))
	f.Fuzz(func(t *testing.T, config, input []byte) {
		fc, err := yaml.Parse(string(config))
		if err != nil {
			return
		}
		var items []*yaml.RNode
		if len(input) > 0 {
			items, err = (&kio.ByteReader{Reader: bytes.NewReader(input), OmitReaderAnnotations: true}).Read()
			if err != nil {
				return
			}
		}
		rl := &framework.ResourceList{FunctionConfig: fc, Items: items}
		n := len(items)
		err = Processor{}.Process(rl)
		if err != nil && len(rl.Items) != n {
			t.Fatalf("refused with %v but changed the items", err)
		}
		if err == nil && rl.Results.ExitCode() != 0 {
			t.Fatalf("rendered despite error results %v", rl.Results)
		}
	})
}

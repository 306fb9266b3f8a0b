package avsexecutor

import (
	"bytes"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/fn/framework"
	"sigs.k8s.io/kustomize/kyaml/kio"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/hourglass-gitops/hourglass-gitops/functions/yamlnode"
)

// FuzzProcess feeds arbitrary declarations and input objects to the function as its binary runs
// it (a serialized ResourceList through framework.Execute). Whatever the input:
//   - it does not panic;
//   - the outcome and the output agree: a failed run reports an error result and passes the input
//     items through untouched (no partial output); a successful run reports no error result;
//   - the output is a ResourceList that parses again, every rendered item a named object;
//   - the same input gives byte-identical output;
//   - the JSON size bound render relies on holds for every rendered object.
//
// `go test` runs the seeds (every testdata case and testdata/fuzz); `go test -fuzz FuzzProcess`
// explores.
func FuzzProcess(f *testing.F) {
	for _, tc := range testCases(f) {
		f.Add(tc.config, tc.input)
	}
	f.Add([]byte("apiVersion: fn.hourglass.eigenlayer.io/v1alpha1\nkind: AVSExecutor\nspec: []\n"), []byte(nil))
	f.Add([]byte("apiVersion: fn.hourglass.eigenlayer.io/v1alpha1\nkind: AVSExecutor\nmetadata: {name: a, namespace: b}\nspec: {avs: {supportedAvs: [~, 1, {profiles: [~]}]}, customProfiles: [{name: x, scheduling: {runtimeClass: ~}}]}\n"), []byte(nil))
	f.Fuzz(func(t *testing.T, config, input []byte) {
		in, nItems, ok := fuzzResourceList(config, input)
		if !ok {
			return
		}
		out, err := execute(t, in)
		again, errAgain := execute(t, in)
		if !bytes.Equal(out, again) || (err == nil) != (errAgain == nil) {
			t.Fatalf("two runs on the same input differ:\n%s\n---\n%s", out, again)
		}

		rl, perr := parseResourceList(out)
		if perr != nil {
			t.Fatalf("the output does not parse as a ResourceList: %v\n%s", perr, out)
		}
		for _, it := range rl.Items {
			// Input items pass through as they are; what the function rendered is a named object.
			if _, rendered := it.GetAnnotations()[DeclarationAnnotation]; rendered && (it.GetApiVersion() == "" || it.GetKind() == "" || it.GetName() == "") {
				t.Fatalf("the output holds a rendered item without apiVersion, kind or name:\n%s", it.MustString())
			}
		}
		failed := rl.Results.ExitCode() != 0
		switch {
		case err != nil && !failed:
			t.Fatalf("exited with %v but reported no error result", err)
		case err == nil && failed:
			t.Fatalf("exited 0 with error results: %v", rl.Results)
		case err != nil && len(rl.Items) != nItems:
			t.Fatalf("refused with %v but emitted %d items for %d in the input", err, len(rl.Items), nItems)
		}
		for _, it := range rl.Items {
			if _, rendered := it.GetAnnotations()[DeclarationAnnotation]; !rendered || err != nil {
				continue
			}
			b, err := it.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			if bound, ok := yamlnode.JSONSizeBound(it.YNode()); ok && bound < len(b) {
				t.Fatalf("JSON size bound %d below the size %d of\n%s", bound, len(b), it.MustString())
			}
		}
	})
}

// fuzzResourceList serializes a function config and input items as kustomize and kpt hand them to
// the function; inputs that are no YAML objects at all are of no interest.
func fuzzResourceList(config, input []byte) ([]byte, int, bool) {
	fc, err := yaml.Parse(string(config))
	if err != nil || fc.YNode().Kind != yaml.MappingNode {
		return nil, 0, false
	}
	var items []*yaml.RNode
	if len(bytes.TrimSpace(input)) > 0 {
		items, err = (&kio.ByteReader{Reader: bytes.NewReader(input), OmitReaderAnnotations: true}).Read()
		if err != nil {
			return nil, 0, false
		}
	}
	for _, it := range items {
		// kyaml's own writer cannot serialize a document that is no mapping (it panics), so no
		// ResourceList can hold one.
		if it.YNode().Kind != yaml.MappingNode {
			return nil, 0, false
		}
	}
	var out bytes.Buffer
	w := kio.ByteWriter{Writer: &out, WrappingKind: kio.ResourceListKind, WrappingAPIVersion: kio.ResourceListAPIVersion, FunctionConfig: fc}
	if err := w.Write(items); err != nil {
		return nil, 0, false
	}
	// Items must survive the round trip the function binary's reader makes.
	rl, err := parseResourceList(out.Bytes())
	if err != nil {
		return nil, 0, false
	}
	return out.Bytes(), len(rl.Items), true
}

// parseResourceList reads a serialized ResourceList: its items and its results.
func parseResourceList(b []byte) (*framework.ResourceList, error) {
	r := &kio.ByteReader{Reader: bytes.NewReader(b), OmitReaderAnnotations: true}
	items, err := r.Read()
	if err != nil {
		return nil, err
	}
	rl := &framework.ResourceList{Items: items, FunctionConfig: r.FunctionConfig}
	if r.Results != nil {
		s, err := r.Results.String()
		if err != nil {
			return nil, err
		}
		if err := yaml.Unmarshal([]byte(s), &rl.Results); err != nil {
			return nil, err
		}
	}
	return rl, nil
}

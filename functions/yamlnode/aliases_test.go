package yamlnode

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/kustomize/kyaml/kio"
)

// TestDerefTopLevelAliases checks that aliased items and function configs become copies that
// kyaml reads, and that a ResourceList without them is left byte for byte.
func TestDerefTopLevelAliases(t *testing.T) {
	in := []byte(`apiVersion: config.kubernetes.io/v1
kind: ResourceList
functionConfig: &cfg
  apiVersion: v1
  kind: ConfigMap
  metadata: {name: c}
items:
- *cfg
`)
	if _, err := (&kio.ByteReader{Reader: bytes.NewReader(in)}).Read(); err == nil {
		t.Log("kyaml now reads top-level aliases itself")
	}
	r := &kio.ByteReader{Reader: bytes.NewReader(DerefTopLevelAliases(in)), OmitReaderAnnotations: true}
	items, err := r.Read()
	if err != nil {
		t.Fatalf("with the aliases resolved: %v", err)
	}
	var got []string
	for _, it := range items {
		got = append(got, it.GetKind()+"/"+it.GetName())
	}
	if diff := cmp.Diff([]string{"ConfigMap/c"}, got); diff != "" {
		t.Errorf("items (-want +got):\n%s", diff)
	}
	if r.FunctionConfig == nil || r.FunctionConfig.GetName() != "c" {
		t.Errorf("function config %v", r.FunctionConfig)
	}
	for _, plain := range [][]byte{
		[]byte("apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: '*'}}\n"),
		[]byte("not: [yaml"),
	} {
		if got := DerefTopLevelAliases(plain); !bytes.Equal(got, plain) {
			t.Errorf("%q was rewritten as %q", plain, got)
		}
	}
}

package cluster

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Whole numbers decode as int64, as the API machinery reads them, so that
// unstructured.NestedInt64 finds them; empty documents are skipped.
func TestReadObjects(t *testing.T) {
	objs, err := ReadObjects([]byte(`---
apiVersion: hourglass.eigenlayer.io/v1alpha1
kind: Performer
metadata: {name: a, namespace: ns}
spec:
  hardwareRequirements: {gpuCount: 2}
---
---
apiVersion: v1
kind: Namespace
metadata: {name: ns}
`))
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, o := range objs {
		kinds = append(kinds, o.GetKind())
	}
	if diff := cmp.Diff([]string{"Performer", "Namespace"}, kinds); diff != "" {
		t.Fatalf("kinds (-want +got):\n%s", diff)
	}
	n, found, err := unstructured.NestedInt64(objs[0].Object, "spec", "hardwareRequirements", "gpuCount")
	if err != nil || !found || n != 2 {
		t.Errorf("gpuCount = %d, %v, %v; want 2", n, found, err)
	}
	if _, err := ReadObjects([]byte("kind: [")); err == nil {
		t.Error("broken YAML decoded without an error")
	}
}

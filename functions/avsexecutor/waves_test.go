package avsexecutor

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// TestSyncWaveOrder checks the order Argo CD applies every rendered case in: the namespace first,
// then what the pods read (RBAC, configuration, Secrets, Services), then the Performers, then the
// executor. A real executor pod turns Ready only once the Performer it creates at start binds to
// a Ready declared one, and Argo CD applies a wave only once the ones before are healthy: with the
// executor before the Performers, the sync never ends.
func TestSyncWaveOrder(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*", "expected.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no rendered cases: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(filepath.Dir(f)), func(t *testing.T) {
			waves := map[string][]int{} // by role
			for _, o := range readObjects(t, f) {
				if o.GetAnnotations()[DeclarationAnnotation] == "" || o.GetAnnotations()[argoHookAnnotation] != "" {
					continue // inputs passed through; hooks run after the sync, whatever their wave
				}
				w, err := strconv.Atoi(o.GetAnnotations()[syncWaveAnnotation])
				if err != nil {
					t.Fatalf("%s %s: sync wave %q: %v", o.GetKind(), o.GetName(), o.GetAnnotations()[syncWaveAnnotation], err)
				}
				role := "support"
				switch o.GetKind() {
				case "Namespace", "Performer", "StatefulSet":
					role = o.GetKind()
				}
				waves[role] = append(waves[role], w)
			}
			if len(waves["Performer"]) == 0 || len(waves["StatefulSet"]) == 0 {
				t.Fatalf("want Performers and a StatefulSet, got waves %v", waves)
			}
			order := []string{"Namespace", "support", "Performer", "StatefulSet"}
			for i := 0; i < len(order); i++ {
				for j := i + 1; j < len(order); j++ {
					for _, a := range waves[order[i]] {
						for _, b := range waves[order[j]] {
							if a >= b {
								t.Errorf("%s in wave %d, not before %s in wave %d", order[i], a, order[j], b)
							}
						}
					}
				}
			}
		})
	}
}

// readObjects reads every document of a multi-document YAML file.
func readObjects(t *testing.T, f string) []*unstructured.Unstructured {
	t.Helper()
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	d := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
	var objs []*unstructured.Unstructured
	for {
		o := &unstructured.Unstructured{}
		if err := d.Decode(&o.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return objs
			}
			t.Fatalf("%s: %v", f, err)
		}
		if len(o.Object) > 0 {
			objs = append(objs, o)
		}
	}
}

package avsexecutor

import (
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/kustomize/kyaml/yaml"
	"sigs.k8s.io/randfill"
)

// TestConfigDocument holds the executor configuration's node to yaml.v3's Node.Encode: random
// configurations, odd strings among them, are written out the same, or fail the same.
func TestConfigDocument(t *testing.T) {
	oneLine := false
	f := randfill.NewWithSeed(5).NilChance(0.3).NumElements(0, 3).Funcs(
		func(s *string, c randfill.Continue) {
			if c.Intn(50) == 0 {
				*s = "bad \xff utf-8" // left to Node.Encode, which writes it as !!binary
				return
			}
			*s = randomString(c.Rand.Intn)
			if oneLine {
				*s = strings.ReplaceAll(*s, "\n", " ")
			}
		},
	)
	failed, direct := 0, 0
	for i := 0; i < 300; i++ {
		// Half of the configurations have strings of one line alone, which configNode writes.
		oneLine = i%2 == 0
		var c executorConfig
		if i > 0 {
			f.Fill(&c)
		}
		var want yaml.Node
		wantErr := want.Encode(&c)
		got, err := configDocument(&c)
		if wantErr != nil || err != nil {
			if wantErr == nil || err == nil || wantErr.Error() != err.Error() {
				t.Fatalf("configuration %d: got error %v, Node.Encode gives %v", i, err, wantErr)
			}
			failed++
			continue
		}
		if _, err := configNode(reflect.ValueOf(c)); err == nil {
			direct++
		}
		quoteHex(&want)
		quoteHex(got)
		w, err := yaml.Marshal(&want)
		if err != nil {
			t.Fatal(err)
		}
		g, err := yaml.Marshal(got)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(string(w), string(g)); diff != "" {
			t.Fatalf("configuration %d (-Node.Encode +configDocument):\n%s", i, diff)
		}
	}
	t.Logf("%d of 300 configurations built directly, %d refused by Node.Encode", direct, failed)
	if direct < 80 {
		t.Fatalf("built only %d of 300 configurations directly", direct)
	}
	if failed == 0 || failed > 150 {
		t.Fatalf("Node.Encode failed on %d of 300 configurations; the test means to see it fail and succeed", failed)
	}
}

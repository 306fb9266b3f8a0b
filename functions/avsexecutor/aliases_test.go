package avsexecutor

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/kustomize/kyaml/fn/framework"

	"github.com/hourglass-gitops/hourglass-gitops/functions/yamlnode"
)

// TestAliasedResourceList runs a ResourceList whose item is an alias of its function config, which
// kyaml alone refuses, through yamlnode.DerefTopLevelAliases as the function binary does, and
// checks that one without top-level aliases is left as it is.
func TestAliasedResourceList(t *testing.T) {
	in := []byte(`apiVersion: config.kubernetes.io/v1
kind: ResourceList
functionConfig: &cfg
  apiVersion: fn.hourglass.eigenlayer.io/v1alpha1
  kind: AVSExecutor
  metadata: {name: anchored, namespace: anchored-avs}
  spec:
    chains: {ethereum: {rpcUrl: "https://eth.example.com"}}
    operator: {address: "0xabcdefabcdefabcdefabcdefabcdefabcdefabcd", keys: {secretName: k}}
    avs: {supportedAvs: [{name: anchored, address: "0x00000000000000000000000000000000000000a1", performer: {image: "my-org/p:v1"}}]}
items:
- *cfg
`)
	if _, err := execute(t, in); err == nil {
		t.Log("kyaml now reads top-level aliases itself")
	}
	out, err := execute(t, yamlnode.DerefTopLevelAliases(in))
	if err != nil {
		t.Fatalf("with the aliases resolved: %v\n%s", err, out)
	}
	if !bytes.Contains(out, []byte("kind: StatefulSet")) {
		t.Errorf("nothing rendered:\n%s", out)
	}
	plain := resourceList(t, testCases(t)[0].config, nil)
	if got := yamlnode.DerefTopLevelAliases(plain); !bytes.Equal(got, plain) {
		t.Error("a ResourceList without top-level aliases was rewritten")
	}
}

// TestDuplicateKey checks that a key given twice is one error naming the field and both lines of
// the input, and not a cascade of fields reported missing.
func TestDuplicateKey(t *testing.T) {
	in := []byte(`apiVersion: config.kubernetes.io/v1
kind: ResourceList
items: []
functionConfig:
  apiVersion: fn.hourglass.eigenlayer.io/v1alpha1
  kind: AVSExecutor
  metadata: {name: dup, namespace: dup-avs}
  spec:
    chains: {ethereum: {rpcUrl: "https://eth.example.com"}}
    operator: {address: "0xabcdefabcdefabcdefabcdefabcdefabcdefabcd", keys: {secretName: k}}
    avs:
      supportedAvs:
      - name: dup
        address: "0x00000000000000000000000000000000000000a1"
        performer: {image: "my-org/p:v1"}
        name: again
`)
	out, err := execute(t, in)
	results, ok := err.(framework.Results)
	if !ok {
		t.Fatalf("got %v, want error results\n%s", err, out)
	}
	var got []string
	for _, r := range results {
		got = append(got, r.Field.Path+": "+r.Message)
	}
	want := []string{`spec.avs.supportedAvs[0].name: "name" is given twice, on lines 13 and 16 of the input; YAML allows a key once`}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

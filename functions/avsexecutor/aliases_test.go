package avsexecutor

import (
	"bytes"
	"testing"
)

// TestDerefTopLevelAliases runs a ResourceList whose item is an alias of its function config,
// which kyaml alone refuses, and checks that one without top-level aliases is left as it is.
func TestDerefTopLevelAliases(t *testing.T) {
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
	out, err := execute(t, DerefTopLevelAliases(in))
	if err != nil {
		t.Fatalf("with the aliases resolved: %v\n%s", err, out)
	}
	if !bytes.Contains(out, []byte("kind: StatefulSet")) {
		t.Errorf("nothing rendered:\n%s", out)
	}
	plain := resourceList(t, testCases(t)[0].config, nil)
	if got := DerefTopLevelAliases(plain); !bytes.Equal(got, plain) {
		t.Error("a ResourceList without top-level aliases was rewritten")
	}
}

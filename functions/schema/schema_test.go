package schema

import (
	"reflect"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"

	"github.com/hourglass-gitops/hourglass-gitops/functions/schema/crd"
)

// TestValidate checks that the markers of the API types reach the function as sentences naming
// the field: ranges, patterns, enums, required fields and minimum lengths.
func TestValidate(t *testing.T) {
	v, err := For("AVSExecutor")
	if err != nil {
		t.Fatal(err)
	}
	var obj map[string]any
	if err := yaml.Unmarshal([]byte(`
apiVersion: fn.hourglass.eigenlayer.io/v1alpha1
kind: AVSExecutor
metadata: {name: x}
spec:
  executor: {image: {repository: "", tag: v1}, replicas: -1, grpcPort: 70000, name: Bad}
  chains: {ethereum: {rpcUrl: "https://rpc", chainId: 0, taskMailboxAddress: null}}
  operator: {address: "0x12", signingKeys: [rsa]}
  avs: {supportedAvs: [{name: a, address: "0x1", performer: {image: x, imagePullPolicy: Sometimes}}]}
`), &obj); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range v.Validate(obj) {
		got = append(got, e.Field+": "+e.Detail)
	}
	want := []string{
		`spec.avs.supportedAvs[0].address: "0x1" is no Ethereum address (0x and 40 hex digits)`,
		`spec.avs.supportedAvs[0].performer.imagePullPolicy: unknown value "Sometimes" (one of Always, IfNotPresent, Never)`,
		`spec.chains.ethereum.chainId: must be 1 or more, got 0`,
		`spec.executor.grpcPort: must be 65535 or less, got 70000`,
		`spec.executor.image.repository: is required`,
		`spec.executor.name: "Bad" is no DNS-1035 label (lower case letters, digits and '-', starting with a letter)`,
		`spec.executor.replicas: must be 0 or more, got -1`,
		`spec.operator.address: "0x12" is no Ethereum address (0x and 40 hex digits)`,
		`spec.operator.signingKeys[0]: unknown value "rsa" (one of bls, ecdsa)`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}

	if _, err := For("PerformerProfile"); err != nil {
		t.Error(err)
	}
	if _, err := For("Performer"); err == nil {
		t.Error("For(Performer) found a schema; the function's schemas are AVSExecutor and PerformerProfile")
	}
}

// TestSchemasMatchCRDs holds the compiled-in schemas to the CRDs controller-gen writes: the same
// schema for every kind, descriptions aside, and no kind more or less. make verify-generate
// checks the generated file is current; this checks what it holds.
func TestSchemasMatchCRDs(t *testing.T) {
	want, err := crd.Load(".")
	if err != nil {
		t.Fatal(err)
	}
	if len(want) == 0 {
		t.Fatal("no CRDs in functions/schema")
	}
	for kind, s := range want {
		crd.WithoutDocs(s)
		v, err := For(kind)
		if err != nil {
			t.Errorf("%s: %v", kind, err)
			continue
		}
		if diff := cmp.Diff(s, v.schema, cmp.Exporter(func(reflect.Type) bool { return true })); diff != "" {
			t.Errorf("%s: the compiled-in schema differs from the CRD's; run make generate (-crd +compiled-in):\n%s", kind, diff)
		}
	}
	if len(builders) != len(want) {
		t.Errorf("compiled-in schemas for %d kinds, CRDs for %d; run make generate", len(builders), len(want))
	}
}

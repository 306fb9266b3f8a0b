package avsexecutor

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/kustomize/kyaml/fn/framework"
	"sigs.k8s.io/kustomize/kyaml/kio"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// warnings runs a serialized ResourceList and returns its results, which must not be errors.
func warnings(t *testing.T, in []byte) ([]string, []byte) {
	t.Helper()
	var out bytes.Buffer
	rw := &kio.ByteReadWriter{Reader: bytes.NewReader(in), Writer: &out, KeepReaderAnnotations: true}
	if err := framework.Execute(Processor{}, rw); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	rl, err := yaml.Parse(out.String())
	if err != nil {
		t.Fatal(err)
	}
	results, err := rl.Pipe(yaml.Lookup("results"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	if results != nil {
		elems, _ := results.Elements()
		for _, r := range elems {
			sev, _ := r.GetString("severity")
			msg, _ := r.GetString("message")
			name, _ := r.GetString("resourceRef.name")
			got = append(got, fmt.Sprintf("%s %s: %s", sev, name, msg))
		}
	}
	return got, out.Bytes()
}

// TestDroppedObjectWarns removes an AVS from a declaration and runs the function on its earlier
// output: the AVS's Performer is left out, with a warning on it.
func TestDroppedObjectWarns(t *testing.T) {
	var cfg []byte
	for _, tc := range testCases(t) {
		if tc.name == "multi-avs" {
			cfg = tc.config
		}
	}
	first, err := execute(t, resourceList(t, cfg, nil))
	if err != nil {
		t.Fatal(err)
	}
	its := items(t, first)
	fc, err := yaml.Parse(string(cfg))
	if err != nil {
		t.Fatal(err)
	}
	list, err := fc.Pipe(yaml.Lookup("spec", "avs", "supportedAvs"))
	if err != nil {
		t.Fatal(err)
	}
	list.YNode().Content = list.YNode().Content[:2] // keep price-feed and zk-prover, drop sealed-bid
	var in bytes.Buffer
	if err := (kio.ByteWriter{Writer: &in, WrappingKind: kio.ResourceListKind, WrappingAPIVersion: kio.ResourceListAPIVersion, FunctionConfig: fc}).Write(its); err != nil {
		t.Fatal(err)
	}
	got, out := warnings(t, in.Bytes())
	want := []string{"warning sealed-bid: Performer multi-avs/sealed-bid was rendered from this declaration before and is rendered no longer, " +
		"so it is left out of the output; the GitOps engine will delete it from the cluster if it prunes"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	for _, it := range items(t, out) {
		if it.GetKind() == "Performer" && it.GetName() == "sealed-bid" {
			t.Error("the dropped Performer is still in the output")
		}
	}
}

// TestGPUWithSGXWarns renders an AVS with an SGX enclave and a GPU, with a warning.
func TestGPUWithSGXWarns(t *testing.T) {
	cfg := []byte(`apiVersion: fn.hourglass.eigenlayer.io/v1alpha1
kind: AVSExecutor
metadata: {name: sgx-gpu, namespace: sgx-gpu}
spec:
  chains: {ethereum: {rpcUrl: "https://eth.example.com"}}
  operator: {address: "0xabcdefabcdefabcdefabcdefabcdefabcdefabcd", keys: {secretName: k}}
  avs:
    supportedAvs:
    - {name: enclave, address: "0x00000000000000000000000000000000000000a1", performer: {image: "my-org/p:v1"}, profiles: [tee-sgx, gpu]}
`)
	got, _ := warnings(t, resourceList(t, cfg, nil))
	want := []string{"warning sgx-gpu: an SGX enclave cannot use a GPU: the GPU is given to the pod, but only code outside the enclave can reach it, " +
		"so whatever the performer computes on it is not protected by SGX (with profiles tee-sgx, gpu); for confidential GPU work use tee-sev-snp or tee-tdx with a GPU"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
}

// TestSecretLookingValuesWarn renders a performer environment value that looks like a private key
// and an RPC URL with an API key in its path, each with a warning that points to a Secret
// reference.
func TestSecretLookingValuesWarn(t *testing.T) {
	cfg := []byte(`apiVersion: fn.hourglass.eigenlayer.io/v1alpha1
kind: AVSExecutor
metadata: {name: leaky, namespace: leaky}
spec:
  chains: {ethereum: {rpcUrl: "https://eth-mainnet.g.alchemy.com/v2/Abcdefghijklmnopqrstuvwxyz012345"}}
  operator: {address: "0xabcdefabcdefabcdefabcdefabcdefabcdefabcd", keys: {secretName: k}}
  avs:
    supportedAvs:
    - name: leaky
      address: "0x00000000000000000000000000000000000000a1"
      performer:
        image: "my-org/p:v1"
        env:
        - {name: SIGNER, value: "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"}
        - {name: LOG_LEVEL, value: debug}
`)
	got, _ := warnings(t, resourceList(t, cfg, nil))
	want := []string{
		"warning leaky: the URL seems to carry credentials (user info, a key parameter or a long token in its path), which would end up in Git and in the rendered ConfigMap: " +
			"put the URL in a Secret and name it in rpcUrlFrom.secretKeyRef",
		"warning leaky: the value of SIGNER looks like a private key, which would end up in Git, the executor configuration and the Performer: " +
			"put it in a Secret and use valueFrom.secretKeyRef",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	for _, u := range []string{"https://eth.example.com", "https://eth-mainnet.alchemyapi.io/v2/YOUR_API_KEY", "wss://node.example.com:8546/ws"} {
		if looksLikeCredentialURL(u) {
			t.Errorf("%s taken for a URL with credentials", u)
		}
	}
	for _, u := range []string{"https://user:pass@rpc.example.com", "https://rpc.example.com/?apiKey=x", "https://rpc.example.com/?access_token=x"} {
		if !looksLikeCredentialURL(u) {
			t.Errorf("%s not taken for a URL with credentials", u)
		}
	}
}

package avsexecutor

import (
	"fmt"
	"strings"
	"testing"
)

// declaration returns an AVSExecutor serving n AVSs with a mix of profiles.
func declaration(n int) []byte {
	var b strings.Builder
	b.WriteString(`apiVersion: fn.hourglass.eigenlayer.io/v1alpha1
kind: AVSExecutor
metadata:
  name: bench
  namespace: bench
spec:
  executor:
    image: {repository: hourglass/executor, tag: v1.2.0}
  chains:
    ethereum: {rpcUrl: "https://eth.example.com/rpc"}
  operator:
    address: "0xabcdefabcdefabcdefabcdefabcdefabcdefabcd"
    keys: {secretName: operator-keys}
  persistence: {enabled: true}
  networkPolicy: {enabled: true}
  avs:
    supportedAvs:
`)
	mixes := []string{"[]", "[gpu-a100]", "[tee-sgx]", "[bottlerocket]", "[gpu-h100, bottlerocket]", "[tee-sev-snp, gpu]"}
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, `    - address: "0x%040x"
      name: avs-%d
      performer: {image: my-org/performer-%d, version: v1.0.0}
      resources: {requests: {cpu: 500m, memory: 1Gi}, limits: {memory: 4Gi}}
      profiles: %s
`, i+1, i, i, mixes[i%len(mixes)])
	}
	return []byte(b.String())
}

// BenchmarkRender renders declarations of 1, 100 and 1000 AVSs through the whole ResourceList
// round trip the function binary does (parse, validate, render, serialize).
func BenchmarkRender(b *testing.B) {
	for _, n := range []int{1, 100, 1000} {
		in := resourceList(b, declaration(n), nil)
		b.Run(fmt.Sprintf("avs=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := execute(b, in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestTooManyAVSs checks that a declaration whose configuration would not fit a ConfigMap is
// refused with a message, rather than rendered for the API server to reject.
func TestTooManyAVSs(t *testing.T) {
	out, err := execute(t, resourceList(t, declaration(5000), nil))
	if err == nil || !strings.Contains(err.Error(), "split the AVSs over several executors") {
		t.Fatalf("got %v, want a refusal", err)
	}
	if strings.Contains(string(out), "kind: StatefulSet") {
		t.Fatal("rendered objects despite the refusal")
	}
}

package hardware

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// docs/hardware.md is what users read; its alias table and default enclave size must say what the
// mapping does.
func TestDocsMatchMapping(t *testing.T) {
	b, err := os.ReadFile("../../docs/hardware.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	row := regexp.MustCompile("(?m)^\\| `(nvidia-[a-z0-9]+)` \\| (.+) \\|$")
	documented := map[string][]string{}
	for _, m := range row.FindAllStringSubmatch(doc, -1) {
		var products []string
		for _, p := range strings.Split(m[2], ",") {
			products = append(products, strings.Trim(strings.TrimSpace(p), "`"))
		}
		documented[m[1]] = products
	}
	if diff := cmp.Diff(GPUFamilies(), documented); diff != "" {
		t.Errorf("GPU family aliases in docs/hardware.md (-mapping +docs):\n%s", diff)
	}
	if epc := "`sgx.intel.com/epc: " + DefaultSGXEPC.String() + "`"; !strings.Contains(doc, epc) {
		t.Errorf("docs/hardware.md does not give the default enclave page cache %s", epc)
	}
	for _, s := range []string{GPUProductLabel, SGXNodeLabel, SEVSNPNodeLabel, TDXNodeLabel, RuntimeClassSNP, RuntimeClassTDX,
		RuntimeClassGPUSNP, RuntimeClassGPUTDX, string(PassthroughGPURes), BottlerocketNodeLabel + "=" + BottlerocketNodeLabelValue} {
		if !strings.Contains(doc, "`"+s) {
			t.Errorf("docs/hardware.md does not mention %s", s)
		}
	}
}

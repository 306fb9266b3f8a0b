package hardware

import (
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hourglass-gitops/hourglass-gitops/api/v1alpha1"
)

// The CRD's CEL rules restate two rules of Go code in a language the API server runs. This test
// reads the generated CRD so that the two never drift apart.
func TestCRDRulesAgreeWithContract(t *testing.T) {
	b, err := os.ReadFile("../../base/crd/hourglass.eigenlayer.io_performers.yaml")
	if err != nil {
		t.Fatal(err)
	}
	crd := strings.Join(strings.Fields(string(b)), " ")

	m := regexp.MustCompile(`size\(self\.metadata\.name\) <= (\d+)`).FindStringSubmatch(crd)
	if m == nil {
		t.Fatal("the CRD has no rule on the length of metadata.name")
	}
	if n, _ := strconv.Atoi(m[1]); n != v1alpha1.MaxNameLength {
		t.Errorf("CRD limits metadata.name to %d characters, the contract to %d", n, v1alpha1.MaxNameLength)
	}

	m = regexp.MustCompile(`self\.scheduling\.runtimeClass in \[([^\]]*)\]`).FindStringSubmatch(crd)
	if m == nil {
		t.Fatal("the CRD has no rule on GPUs and confidential runtime classes")
	}
	var inCRD []string
	for _, s := range strings.Split(m[1], ",") {
		inCRD = append(inCRD, strings.Trim(strings.TrimSpace(s), "'"))
	}
	var inGo []string
	for rc := range confidentialRuntimeWithoutGPU {
		inGo = append(inGo, rc)
	}
	sort.Strings(inCRD)
	sort.Strings(inGo)
	if diff := cmp.Diff(inGo, inCRD); diff != "" {
		t.Errorf("confidential runtime classes without GPU passthrough (-hardware +CRD):\n%s", diff)
	}
}

package version

import (
	"runtime"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestString(t *testing.T) {
	defer func(v, r string) { Version, Revision = v, r }(Version, Revision)
	platform := " " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH

	Version, Revision = "", ""
	if diff := cmp.Diff("fn devel"+platform, String("fn")); diff != "" {
		t.Errorf("unstamped (-want +got):\n%s", diff)
	}
	Version, Revision = "v0.3.0", "0123abc"
	if diff := cmp.Diff("fn v0.3.0 (0123abc)"+platform, String("fn")); diff != "" {
		t.Errorf("stamped (-want +got):\n%s", diff)
	}
}

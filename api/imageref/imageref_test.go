package imageref

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSplit(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Reference
	}{
		{"my-org/performer", Reference{Name: "my-org/performer"}},
		{"my-org/performer:v1", Reference{Name: "my-org/performer", Tag: "v1"}},
		{"registry:5000/performer", Reference{Name: "registry:5000/performer"}},
		{"registry:5000/performer:v2", Reference{Name: "registry:5000/performer", Tag: "v2"}},
		{"ghcr.io/a/b@sha256:00ff", Reference{Name: "ghcr.io/a/b", Digest: "sha256:00ff"}},
		{"ghcr.io/a/b:v1@sha256:00ff", Reference{Name: "ghcr.io/a/b", Tag: "v1", Digest: "sha256:00ff"}},
	} {
		got := Split(tc.in)
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("Split(%q) (-want +got):\n%s", tc.in, diff)
		}
		if got.Pinned() != (tc.want.Tag != "" || tc.want.Digest != "") {
			t.Errorf("Split(%q).Pinned() = %v", tc.in, got.Pinned())
		}
	}
}

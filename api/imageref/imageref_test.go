package imageref

import (
	"strings"
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

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		image string
		ok    bool
	}{
		{"my-org/performer", true},
		{"registry:5000/my-org/p:v1@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", true},
		{"UPPER/$(x);rm", false},
		{"my-org/p:v1:@sha256:zz", false},
		{"my-org/p@sha256:zz", false},
		{"my org/p", false},
	} {
		if err := Check(tc.image); (err == nil) != tc.ok {
			t.Errorf("Check(%q) = %v, want ok %v", tc.image, err, tc.ok)
		}
	}
	for _, tc := range []struct {
		tag string
		ok  bool
	}{
		{"v1.0.0-rc.2", true},
		{"v1:@sha256:zz", false},
		{"v1\x00", false},
		{"v1\nrm -rf", false},
		{strings.Repeat("a", 128), true},
		{strings.Repeat("a", 300), false},
		{"-v1", false},
	} {
		if err := CheckTag(tc.tag); (err == nil) != tc.ok {
			t.Errorf("CheckTag(%q) = %v, want ok %v", tc.tag, err, tc.ok)
		}
	}
	if err := CheckName("my-org/p:v1"); err == nil {
		t.Error("CheckName accepted a tagged reference")
	}
	if err := CheckName("public.ecr.aws/z6g0f8n7/eigenlayer-hourglass"); err != nil {
		t.Error(err)
	}
}

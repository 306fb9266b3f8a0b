package avsexecutor

import (
	"strings"
	"testing"
)

func TestCheckImage(t *testing.T) {
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
		if err := checkImage(tc.image); (err == nil) != tc.ok {
			t.Errorf("checkImage(%q) = %v, want ok %v", tc.image, err, tc.ok)
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
		if err := checkImageTag(tc.tag); (err == nil) != tc.ok {
			t.Errorf("checkImageTag(%q) = %v, want ok %v", tc.tag, err, tc.ok)
		}
	}
	if err := checkImageName("my-org/p:v1"); err == nil {
		t.Error("checkImageName accepted a tagged reference")
	}
	if err := checkImageName("public.ecr.aws/z6g0f8n7/eigenlayer-hourglass"); err != nil {
		t.Error(err)
	}
}

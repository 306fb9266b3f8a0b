package avsexecutor

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Every route of the forwarder at its connection cap fits in the container's memory limit: the
// default cap is rendered away until it would not.
func TestForwarderMaxConnections(t *testing.T) {
	q := func(s string) *resource.Quantity { v := resource.MustParse(s); return &v }
	type tc struct {
		routes int
		limit  *resource.Quantity
	}
	var got []int
	for _, c := range []tc{
		{1, q("64Mi")},   // the default limit: the default cap
		{7, q("64Mi")},   // 7 × 128 at 64 KiB each is 56 MiB, over 8 MiB of its own
		{8, q("64Mi")},   // 896 / 8
		{100, q("64Mi")}, // 896 / 100
		{1, q("16Mi")},   // 128 over 8 MiB
		{3, q("16Mi")},   // 128 / 3
		{2, q("4Mi")},    // less than its own: one each
		{3, nil},         // no limit
		{3, q("0")},
	} {
		got = append(got, forwarderMaxConnections(c.routes, c.limit))
	}
	want := []int{0, 0, 112, 8, 0, 42, 1, 0, 0}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("--max-connections rendered (0: the default) (-want +got):\n%s", diff)
	}
}

package performer

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/hourglass-gitops/hourglass-gitops/api/v1alpha1"
)

func TestLeftovers(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	pod := metav1.OwnerReference{APIVersion: "v1", Kind: "Pod", Name: "executor-0", UID: "pod-a"}
	mk := func(name string, age int, mutate ...func(*v1alpha1.Performer)) v1alpha1.Performer {
		p := v1alpha1.Performer{ObjectMeta: metav1.ObjectMeta{
			Name: name, UID: types.UID(name), Generation: 1,
			CreationTimestamp: metav1.NewTime(t0.Add(-time.Duration(age) * time.Minute)),
			OwnerReferences:   []metav1.OwnerReference{pod},
		}}
		for _, m := range mutate {
			m(&p)
		}
		return p
	}
	ready := func(p *v1alpha1.Performer) { p.Status.Ready, p.Status.ObservedGeneration = true, p.Generation }
	otherPod := func(p *v1alpha1.Performer) { p.OwnerReferences[0].UID = "pod-b" }
	decl := func(p *v1alpha1.Performer) { p.Annotations = map[string]string{v1alpha1.DeclarationAnnotation: "ns/x"} }
	deleting := func(p *v1alpha1.Performer) { now := metav1.NewTime(t0); p.DeletionTimestamp = &now }
	staleReady := func(p *v1alpha1.Performer) { ready(p); p.Generation = 2 }

	for _, tc := range []struct {
		name       string
		performers []v1alpha1.Performer
		newest     string
		remove     []string
	}{
		{"one", []v1alpha1.Performer{mk("a", 1)}, "a", nil},
		{"crash loop: the newest stays", []v1alpha1.Performer{mk("a", 20), mk("c", 1), mk("b", 10)}, "c", []string{"b", "a"}},
		{"same second: by name", []v1alpha1.Performer{mk("a", 1), mk("b", 1)}, "b", []string{"a"}},
		{"others untouched", []v1alpha1.Performer{mk("a", 20, otherPod), mk("b", 20, decl), mk("c", 20, deleting), mk("d", 1)}, "d", nil},
		{"hand-over: the newest Ready old one stays until the newest is Ready",
			[]v1alpha1.Performer{mk("a", 20, ready), mk("b", 10, ready), mk("c", 1)}, "c", []string{"a"}},
		{"hand-over done", []v1alpha1.Performer{mk("a", 20, ready), mk("b", 10, ready), mk("c", 1, ready)}, "c", []string{"b", "a"}},
		{"Ready for an older generation is not Ready", []v1alpha1.Performer{mk("a", 20, staleReady), mk("c", 1)}, "c", []string{"a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			newest, remove := leftovers(&pod, tc.performers)
			var got []string
			for _, p := range remove {
				got = append(got, p.Name)
			}
			if newest == nil || newest.Name != tc.newest {
				t.Errorf("newest %v, want %s", newest, tc.newest)
			}
			if diff := cmp.Diff(tc.remove, got); diff != "" {
				t.Errorf("to delete (-want +got):\n%s", diff)
			}
		})
	}
}

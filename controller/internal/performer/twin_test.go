package performer

import (
	"testing"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hourglass-gitops/hourglass-gitops/api/v1alpha1"
)

func TestDeclaredTwin(t *testing.T) {
	const avs = "0xAbCd000000000000000000000000000000000001"
	mk := func(name, image string, declared bool) v1alpha1.Performer {
		p := v1alpha1.Performer{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec:       v1alpha1.PerformerSpec{AVSAddress: avs, Image: image},
		}
		if declared {
			p.Annotations = map[string]string{v1alpha1.DeclarationAnnotation: "ns/x"}
		}
		return p
	}
	exec := mk("performer-abcdef-12345678", "r/p:v2", false)
	deleting := mk("a-deleting", "r/p:v2", true)
	now := metav1.Now()
	deleting.DeletionTimestamp = &now
	otherAVS := mk("a-other", "r/p:v2", true)
	otherAVS.Spec.AVSAddress = "0x0000000000000000000000000000000000000002"
	ready := func(p v1alpha1.Performer) v1alpha1.Performer {
		p.Status = v1alpha1.PerformerStatus{Ready: true, CurrentImage: p.Image(),
			Conditions: []metav1.Condition{{Type: meta.ReadyCondition, Status: metav1.ConditionTrue, Reason: meta.SucceededReason}}}
		return p
	}
	created := func(p v1alpha1.Performer, minutesAgo int) v1alpha1.Performer {
		p.CreationTimestamp = metav1.NewTime(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC).Add(-time.Duration(minutesAgo) * time.Minute))
		return p
	}
	lowerCase := mk("z-lower", "r/p:v1", true)
	lowerCase.Spec.AVSAddress = "0xabcd000000000000000000000000000000000001"

	for _, tc := range []struct {
		name       string
		p          v1alpha1.Performer
		candidates []v1alpha1.Performer
		want       string
	}{
		{"no declared Performer", exec, []v1alpha1.Performer{exec, mk("b", "r/p:v2", false)}, ""},
		{"a ready one before one that is not", exec, []v1alpha1.Performer{mk("a", "r/p:v2", true), ready(mk("z", "r/p:v2", true))}, "z"},
		{"the image asked for before readiness", exec, []v1alpha1.Performer{ready(mk("a", "r/p:v1", true)), mk("z", "r/p:v2", true)}, "z"},
		{"the oldest before the first by name", exec, []v1alpha1.Performer{created(mk("a", "r/p:v2", true), 1), created(mk("z", "r/p:v2", true), 5)}, "z"},
		{"first by name", exec, []v1alpha1.Performer{mk("c", "r/p:v2", true), exec, mk("b", "r/p:v2", true)}, "b"},
		{"the one running the image asked for wins", exec, []v1alpha1.Performer{mk("b", "r/p:v1", true), mk("c", "r/p:v2", true)}, "c"},
		{"none runs the image: first by name", exec, []v1alpha1.Performer{mk("d", "r/p:v1", true), mk("c", "r/p:v0", true)}, "c"},
		{"deleting and other AVS are skipped", exec, []v1alpha1.Performer{deleting, otherAVS, mk("m", "r/p:v1", true)}, "m"},
		{"addresses compare without case", exec, []v1alpha1.Performer{lowerCase}, "z-lower"},
		{"a declared Performer is never bound", mk("x", "r/p:v2", true), []v1alpha1.Performer{mk("b", "r/p:v2", true)}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ""
			if twin := declaredTwin(&tc.p, tc.candidates); twin != nil {
				got = twin.Name
			}
			if got != tc.want {
				t.Errorf("bound to %q, want %q", got, tc.want)
			}
		})
	}
}

package profiles

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	fnv1alpha1 "github.com/hourglass-gitops/hourglass-gitops/api/fn/v1alpha1"
	"github.com/hourglass-gitops/hourglass-gitops/api/hardware"
	"github.com/hourglass-gitops/hourglass-gitops/api/v1alpha1"
)

func TestBuiltInGPUFamilies(t *testing.T) {
	set := BuiltIn(nil)
	for family := range hardware.GPUFamilies() {
		p, ok := set[GPUFamilyProfile(family)]
		if !ok {
			t.Errorf("no profile for GPU family %s", family)
			continue
		}
		if p.Spec.HardwareRequirements.GPUType != family || p.Spec.HardwareRequirements.GPUCount != 1 {
			t.Errorf("%s: %+v", p.Name, p.Spec.HardwareRequirements)
		}
	}
}

func TestBottlerocketWithoutTaint(t *testing.T) {
	set := BuiltIn(&fnv1alpha1.ProfileParameters{Bottlerocket: &fnv1alpha1.BottlerocketParameters{
		NodeLabelKey: "example.com/os", NodeLabelValue: "br", TaintKey: "-",
	}})
	want := &v1alpha1.Scheduling{NodeSelector: map[string]string{"example.com/os": "br"}}
	if diff := cmp.Diff(want, set[Bottlerocket].Spec.Scheduling); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestCombineAndOverlay(t *testing.T) {
	a := Profile{Name: "a", Spec: fnv1alpha1.PerformerProfileSpec{
		Scheduling: &v1alpha1.Scheduling{NodeSelector: map[string]string{"pool": "x"},
			Tolerations: []corev1.Toleration{{Key: "t", Operator: corev1.TolerationOpExists}}},
		Resources: &corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}},
	}}
	b := Profile{Name: "b", Spec: fnv1alpha1.PerformerProfileSpec{
		HardwareRequirements: &v1alpha1.HardwareRequirements{GPUCount: 1},
		Scheduling:           &v1alpha1.Scheduling{Tolerations: []corev1.Toleration{{Key: "t", Operator: corev1.TolerationOpExists}, {Key: "u", Operator: corev1.TolerationOpExists}}},
		Resources:            &corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1000m")}},
	}}
	got, conflicts := Combine([]Profile{a, b})
	if len(conflicts) != 0 {
		t.Fatalf("conflicts: %v", conflicts)
	}
	if len(got.Scheduling.Tolerations) != 2 || got.HardwareRequirements.GPUCount != 1 {
		t.Errorf("combined: %+v %+v", got.Scheduling, got.HardwareRequirements)
	}
	// The AVS's own settings win field by field.
	own := Settings{
		HardwareRequirements: &v1alpha1.HardwareRequirements{GPUCount: 4},
		Scheduling:           &v1alpha1.Scheduling{NodeSelector: map[string]string{"pool": "y"}},
		Resources:            &corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}},
	}
	over := Overlay(got, own)
	cpu := over.Resources.Requests[corev1.ResourceCPU]
	if over.HardwareRequirements.GPUCount != 4 || over.Scheduling.NodeSelector["pool"] != "y" || cpu.String() != "2" || len(over.Scheduling.Tolerations) != 2 {
		t.Errorf("overlay: %+v %+v %+v", over.HardwareRequirements, over.Scheduling, over.Resources)
	}
	if got.HardwareRequirements.GPUCount != 1 {
		t.Errorf("Overlay changed its input")
	}

	c := Profile{Name: "c", Spec: fnv1alpha1.PerformerProfileSpec{
		Resources: &corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("3")}},
	}}
	if _, conflicts := Combine([]Profile{a, c}); len(conflicts) != 1 || conflicts[0].Field != `resources.requests["cpu"]` || conflicts[0].Detail != `profiles "a" and "c" disagree: 1 versus 3` {
		t.Errorf("conflicts: %+v, want one on the cpu request", conflicts)
	}
}

package yamlnode

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/kustomize/kyaml/yaml"
	"sigs.k8s.io/randfill"
)

// TestFromObject checks the written form of a typed object: head first, no status, no empty
// creationTimestamp or empty objects but an emptyDir, hex strings quoted, other keys sorted.
func TestFromObject(t *testing.T) {
	obj := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "p", Annotations: map[string]string{"address": "0xabc"}},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "c", Image: "i", Resources: corev1.ResourceRequirements{}}},
			Volumes:    []corev1.Volume{{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
		},
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	}
	n, err := FromObject(obj)
	if err != nil {
		t.Fatal(err)
	}
	Tidy(n)
	want := `apiVersion: v1
kind: Pod
metadata:
  annotations:
    address: "0xabc"
  name: p
spec:
  containers:
  - image: i
    name: c
  volumes:
  - emptyDir: {}
    name: tmp
`
	if diff := cmp.Diff(want, yaml.NewRNode(n).MustString()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestFromValue checks that plain values keep their fields' order and their yaml names, and
// that words YAML 1.1 reads as booleans are quoted.
func TestFromValue(t *testing.T) {
	type inner struct {
		B string `yaml:"b"`
		A int    `yaml:"a,omitempty"`
	}
	n, err := FromValue(struct {
		Z inner   `yaml:"z"`
		Y []inner `yaml:"y"`
	}{Z: inner{B: "yes"}, Y: []inner{}})
	if err != nil {
		t.Fatal(err)
	}
	want := "z:\n  b: \"yes\"\n\"y\": []\n"
	if diff := cmp.Diff(want, yaml.NewRNode(n).MustString()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestJSONSizeBound fills objects of the kinds the function renders with random values, odd
// strings among them, and holds the bound to the size of their JSON form.
func TestJSONSizeBound(t *testing.T) {
	odd := []string{"", "yes", "~", "null", "1:20", "0x1f", "1e3", "two\nlines", "\"q\"", "\\", "\x01", "<>&", "é", "日本", "\u2028"}
	f := randfill.NewWithSeed(1).NilChance(0.5).NumElements(0, 2).Funcs(
		func(q *resource.Quantity, c randfill.Continue) {
			*q = *resource.NewMilliQuantity(c.Int63n(1e9), resource.DecimalSI)
		},
		func(is *intstr.IntOrString, c randfill.Continue) { *is = intstr.FromInt32(c.Int31()) },
		func(s *string, c randfill.Continue) {
			*s = strings.Repeat(odd[c.Intn(len(odd))], 1+c.Intn(3))
		},
		func(tm *metav1.Time, c randfill.Continue) { *tm = metav1.Time{} },
		func(m *metav1.ObjectMeta, c randfill.Continue) {
			c.FillNoCustom(m)
			m.DeletionTimestamp, m.ManagedFields = nil, nil
		},
	)
	kinds := []func() runtime.Object{
		func() runtime.Object { return &appsv1.StatefulSet{} },
		func() runtime.Object { return &corev1.Service{} },
		func() runtime.Object { return &corev1.ConfigMap{} },
		func() runtime.Object { return &networkingv1.NetworkPolicy{} },
	}
	bounded := 0
	for range 25 {
		for _, k := range kinds {
			obj := k()
			f.Fill(obj)
			n, err := FromObject(obj)
			if err != nil {
				t.Fatal(err)
			}
			b, err := yaml.NewRNode(n).MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			bound, ok := JSONSizeBound(n)
			if !ok {
				continue
			}
			bounded++
			if bound < len(b) {
				t.Fatalf("%T: JSON size bound %d below the size %d", obj, bound, len(b))
			}
		}
	}
	if bounded < 50 {
		t.Fatalf("bounded only %d of 100 objects", bounded)
	}
}

// TestJSONSizeBoundRefuses checks that nodes the bound cannot reason about are left to measuring.
func TestJSONSizeBoundRefuses(t *testing.T) {
	for _, in := range []string{"a: &x {b: 1}\nc: *x\n", "a: {<<: {b: 1}}\n", "a: !custom 1\n", "a: 1.5\n"} {
		n, err := yaml.Parse(in)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := JSONSizeBound(n.YNode()); ok {
			t.Errorf("%q: bounded", in)
		}
	}
}

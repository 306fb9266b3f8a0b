package strictyaml

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

type inner struct {
	Name string `json:"name"`
}

type embedded struct {
	Shared string `json:"shared,omitempty"`
}

type sample struct {
	embedded `json:",inline"`
	Count    int32              `json:"count,omitempty"`
	On       bool               `json:"on,omitempty"`
	Size     *resource.Quantity `json:"size,omitempty"`
	Port     intstr.IntOrString `json:"port,omitempty"`
	Items    []inner            `json:"items,omitempty"`
	Labels   map[string]string  `json:"labels,omitempty"`
}

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []problem
		decoded  sample
	}{
		{
			name:    "valid",
			in:      "shared: s\ncount: 3\non: true\nsize: 1Gi\nport: http\nitems: [{name: a}]\nlabels: {a.b/c: d}\n",
			decoded: sample{embedded: embedded{Shared: "s"}, Count: 3, On: true, Size: ptr(resource.MustParse("1Gi")), Port: intstr.FromString("http"), Items: []inner{{Name: "a"}}, Labels: map[string]string{"a.b/c": "d"}},
		},
		{
			name: "every problem at once, the rest still decoded",
			in:   "count: 1.5\non: yes please\nsize: 2 GB\nitems: [{name: a}, 3, {nme: c}]\nlabels: {a.b/c: [x]}\ncuont: 1\n",
			want: []problem{
				{"count", "must be an integer, not the number 1.5"},
				{"cuont", `unknown field "cuont" (did you mean "count"?)`},
				{"items[1]", "must be an object, not the number 3"},
				{"items[2].nme", `unknown field "nme" (did you mean "name"?)`},
				{`labels["a.b/c"]`, "must be a string (quote values such as \"1.0\" or \"true\"), not a list"},
				{"on", `must be true or false, not the string "yes please"`},
				{"size", `invalid quantity "2 GB": use a number with an optional suffix such as 500m, 2 or 4Gi`},
			},
			decoded: sample{Items: []inner{{Name: "a"}, {}, {}}, Labels: map[string]string{}},
		},
		{
			name:    "out of range",
			in:      "count: 3000000000\n",
			want:    []problem{{"count", "3000000000 is out of range for a 32-bit integer"}},
			decoded: sample{},
		},
		{
			name:    "nulls are zero values",
			in:      "count: ~\nsize: null\nitems: [~]\n",
			decoded: sample{Items: []inner{{}}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got sample
			var errs []problem
			for _, e := range Decode(yaml.MustParse(tc.in), &got) {
				errs = append(errs, problem{e.Field, e.Detail})
			}
			if diff := cmp.Diff(tc.want, errs); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.decoded, got, cmp.AllowUnexported(sample{}), cmp.Comparer(func(a, b resource.Quantity) bool { return a.Cmp(b) == 0 })); diff != "" {
				t.Errorf("decoded (-want +got):\n%s", diff)
			}
		})
	}
}

// problem is a field error's path and sentence, what users see of it.
type problem struct{ Path, Message string }

func ptr[T any](v T) *T { return &v }

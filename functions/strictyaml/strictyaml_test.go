package strictyaml

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

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
			name: "a key given twice is named with its lines, the first is kept",
			in:   "count: 1\nitems:\n- name: a\n  name: b\ncount: 2\n",
			want: []problem{
				{"count", `"count" is given twice, on lines 1 and 5 of the input; YAML allows a key once`},
				{"items[0].name", `"name" is given twice, on lines 3 and 4 of the input; YAML allows a key once`},
			},
			decoded: sample{Count: 1, Items: []inner{{Name: "a"}}},
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

type tree struct {
	Name     string `json:"name,omitempty"`
	Children []tree `json:"children,omitempty"`
}

// TestAliasBudget checks that nested aliases cannot make a small document cost exponential time:
// each level of this one holds ten aliases of the level below, 10^8 nodes once expanded.
func TestAliasBudget(t *testing.T) {
	var b strings.Builder
	b.WriteString("levels:\n- &l0 {name: leaf}\n")
	for i := 1; i <= 8; i++ {
		fmt.Fprintf(&b, "- &l%d {children: [%s]}\n", i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*l%d, ", i-1), 10), ", "))
	}
	fmt.Fprintf(&b, "root: *l8\n")
	var got struct {
		Levels []tree `json:"levels"`
		Root   tree   `json:"root"`
	}
	start := time.Now()
	errs := Decode(yaml.MustParse(b.String()), &got)
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("decoding %d bytes took %v", b.Len(), took)
	}
	if len(errs) != 1 || errs[0].Field != "<nil>" || !strings.Contains(errs[0].Detail, "YAML aliases expand this object beyond") {
		t.Fatalf("errors: %v, want one about the object's aliases", errs)
	}

	// Aliases within the budget are read as written out.
	small := "levels:\n- &a {name: x}\n- *a\nroot: {children: [*a, *a]}\n"
	if errs := Decode(yaml.MustParse(small), &got); len(errs) > 0 {
		t.Fatalf("errors: %v", errs)
	}
	if len(got.Levels) != 2 || got.Levels[1].Name != "x" || len(got.Root.Children) != 2 || got.Root.Children[1].Name != "x" {
		t.Errorf("decoded %+v", got)
	}
}

// TestDecodeJSON checks that the JSON handed back is the object's own when it has no problems,
// aliases and nulls included, and that none is handed back when fields were left out.
func TestDecodeJSON(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		wantJSON bool
	}{
		{"valid", "count: 3\nitems: [{name: a}, {name: b}]\nlabels: {a: b}\nsize: 1Gi\nport: 8080\n", true},
		{"aliases and nulls", "shared: &s x\nlabels: {a: *s}\nsize: null\n", true},
		{"unknown field", "count: 3\nextra: 1\n", false},
		{"wrong type", "count: three\n", false},
		{"repeated key", "count: 3\ncount: 4\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obj := yaml.MustParse(tc.in)
			var s sample
			errs, got := DecodeJSON(obj, &s)
			if !tc.wantJSON {
				if len(errs) == 0 || got != nil {
					t.Fatalf("got problems %v and JSON %s, want problems and no JSON", errs, got)
				}
				return
			}
			want, err := obj.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			if len(errs) > 0 {
				t.Fatalf("unexpected problems: %v", errs)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("JSON (-the object's +DecodeJSON's):\n%s", diff)
			}
		})
	}
}

// TestPlainKey holds isPlainKey to the pattern it stands for, ^[A-Za-z0-9_-]+$.
func TestPlainKey(t *testing.T) {
	pattern := regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	for _, s := range []string{"", "a", "Z", "0", "_", "-", "app.kubernetes.io/name", "a b", "a\n", "é", "\xff", "key_-9", "a:b", "a$"} {
		if got, want := isPlainKey(s), pattern.MatchString(s); got != want {
			t.Errorf("isPlainKey(%q) = %v, want %v", s, got, want)
		}
	}
	for c := 0; c < 256; c++ {
		s := "a" + string(rune(c))
		if got, want := isPlainKey(s), pattern.MatchString(s); got != want {
			t.Errorf("isPlainKey(%q) = %v, want %v", s, got, want)
		}
	}
}

// TestMarshalJSON holds the direct conversion to kyaml's RNode.MarshalJSON, which writes the node
// out and parses it again: the same JSON, or the same error.
func TestMarshalJSON(t *testing.T) {
	for _, in := range []string{
		"a: 1\nb: [1.5, 1e3, -0, 0x1F, 0o17, 1_000, 12345678901234567890]\nc: {d: true, e: yes, f: ~, g: ''}\n",
		"when: 2001-12-14t21:59:43.10-05:00\nday: 2002-12-14\nquoted: \"2002-12-14\"\n",
		"base: &b {x: 1}\nmerged: {<<: *b, y: 2}\n",
		"inline: {<<: {x: 1}, y: 2}\n",
		"bin: !!binary aGVsbG8=\nbad: !!binary '%%%'\n",
		"tagged: !!str 123\nint: !!int '7'\nbadint: !!int abc\n",
		"local: !thing {a: 1}\n",
		"keys: {1: a, true: b, null: c}\n",
		"complex: {[a, b]: c}\n",
		"text: |\n  line one\n  line two\nfolded: >\n  a\n  b\nlong: " + strings.Repeat("word ", 40) + "\n",
		"unicode: \"\\u2028 \\u0085 \\t \\ufeff é\"\n",
		"nan: .nan\ninf: -.inf\n",
	} {
		n := yaml.MustParse(in).YNode()
		want, wantErr := yaml.NewRNode(n).MarshalJSON()
		got, gotErr := marshalJSON(n)
		if fmt.Sprint(wantErr) != fmt.Sprint(gotErr) || string(want) != string(got) {
			t.Errorf("%q: got %s, %v; kyaml gives %s, %v", in, got, gotErr, want, wantErr)
		}
	}
}

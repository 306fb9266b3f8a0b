package avsexecutor

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/kustomize/kyaml/yaml"
	"sigs.k8s.io/randfill"

	"github.com/hourglass-gitops/hourglass-gitops/api/v1alpha1"
)

// sameEncoding fails t unless the direct encoding and the unstructured round trip give the same
// YAML for obj, and the same nodes but for positions and scalar styles (whose effect the YAML
// comparison sees). It reports whether obj was encoded directly; with mustEncode, it fails t if
// not.
func sameEncoding(t testing.TB, obj runtime.Object, mustEncode bool) bool {
	t.Helper()
	want, err := unstructuredNode(obj.DeepCopyObject())
	if err != nil {
		t.Fatalf("unstructured round trip of %T: %v", obj, err)
	}
	got, err := encodeObject(obj.DeepCopyObject())
	if errors.Is(err, errUnencodable) && !mustEncode {
		return false
	}
	if err != nil {
		t.Fatalf("direct encoding of %T: %v", obj, err)
	}
	ws, gs := yaml.NewRNode(want).MustString(), yaml.NewRNode(got).MustString()
	if diff := cmp.Diff(ws, gs); diff != "" {
		t.Fatalf("%T: the direct encoding writes other YAML than the unstructured round trip (-want +got):\n%s", obj, diff)
	}
	if diff := cmp.Diff(comparable(want), comparable(got)); diff != "" {
		t.Fatalf("%T: the direct encoding gives other nodes than the unstructured round trip (-want +got):\n%s", obj, diff)
	}
	// The size check of render relies on the bound.
	b, err := yaml.NewRNode(got).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if bound, ok := jsonSizeBound(got); !ok || bound < len(b) {
		t.Fatalf("%T: JSON size bound %d (%v) below the size %d", obj, bound, ok, len(b))
	}
	return true
}

// node is a yaml.Node without its position and, for scalars, its style: where the encoder
// quotes a plain scalar for its characters, or writes a literal one in double quotes, parsing
// says so, and writing the plain or literal node out again makes the same choice.
type node struct {
	Kind      yaml.Kind
	FlowStyle bool
	Tag       string
	Value     string
	Content   []node
}

func comparable(n *yaml.Node) node {
	out := node{Kind: n.Kind, FlowStyle: n.Style == yaml.FlowStyle, Tag: n.Tag, Value: n.Value}
	for _, c := range n.Content {
		out.Content = append(out.Content, comparable(c))
	}
	return out
}

// TestEncodeRenderedObjects holds the direct encoding to the unstructured round trip for every
// object the test cases render.
func TestEncodeRenderedObjects(t *testing.T) {
	seen := 0
	for _, tc := range testCases(t) {
		if tc.fails {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			for _, obj := range renderedObjects(t, tc.config, tc.input) {
				sameEncoding(t, obj, true)
				seen++
			}
		})
	}
	if seen < 100 {
		t.Fatalf("compared only %d objects", seen)
	}
}

// renderedObjects renders a declaration and returns the typed objects it converts to YAML.
func renderedObjects(t testing.TB, config, input []byte) []runtime.Object {
	t.Helper()
	return renderedFrom(t, resourceList(t, config, input))
}

// renderedFrom renders the declaration of a serialized ResourceList and returns the typed objects
// it converts to YAML.
func renderedFrom(t testing.TB, list []byte) []runtime.Object {
	t.Helper()
	rl, err := parseResourceList(list)
	if err != nil {
		t.Fatal(err)
	}
	in, rep := decode(rl.FunctionConfig, rl.Items)
	if in.decl == nil || rep.failed() {
		t.Fatalf("the declaration does not decode: %v", rep.results())
	}
	m, resolved := resolve(in)
	if resolved.failed() {
		t.Fatalf("the declaration does not resolve: %v", resolved.results())
	}
	var objs []runtime.Object
	if _, err := renderWith(m, func(obj runtime.Object) (*yaml.Node, error) {
		objs = append(objs, obj.DeepCopyObject())
		return unstructuredNode(obj)
	}); err != nil {
		t.Fatal(err)
	}
	return objs
}

// TestEncodeRandomObjects fills every kind the function renders with random values and holds the
// direct encoding to the unstructured round trip.
func TestEncodeRandomObjects(t *testing.T) {
	f := randfill.NewWithSeed(1).NilChance(0.5).NumElements(0, 2).Funcs(
		func(q *resource.Quantity, c randfill.Continue) {
			*q = *resource.NewMilliQuantity(c.Int63n(1e9), []resource.Format{resource.DecimalSI, resource.BinarySI, resource.DecimalExponent}[c.Intn(3)])
		},
		func(is *intstr.IntOrString, c randfill.Continue) {
			if c.Bool() {
				*is = intstr.FromInt32(c.Int31())
			} else {
				*is = intstr.FromString(randomString(c.Rand.Intn))
			}
		},
		func(s *string, c randfill.Continue) { *s = randomString(c.Rand.Intn) },
		// Times other than zero and managed fields have their own JSON form, which the direct
		// encoding leaves to the round trip; rendered objects have neither.
		func(tm *metav1.Time, c randfill.Continue) { *tm = metav1.Time{} },
		func(m *metav1.ObjectMeta, c randfill.Continue) {
			c.FillNoCustom(m)
			m.DeletionTimestamp, m.ManagedFields = nil, nil
		},
	)
	kinds := []func() runtime.Object{
		func() runtime.Object { return &appsv1.StatefulSet{} },
		func() runtime.Object { return &v1alpha1.Performer{} },
		func() runtime.Object { return &corev1.Service{} },
		func() runtime.Object { return &corev1.ConfigMap{} },
		func() runtime.Object { return &corev1.Secret{} },
		func() runtime.Object { return &corev1.Namespace{} },
		func() runtime.Object { return &corev1.ServiceAccount{} },
		func() runtime.Object { return &rbacv1.Role{} },
		func() runtime.Object { return &rbacv1.ClusterRoleBinding{} },
		func() runtime.Object { return &networkingv1.NetworkPolicy{} },
		func() runtime.Object { return &policyv1.PodDisruptionBudget{} },
	}
	direct := 0
	for i := 0; i < 20; i++ {
		for _, k := range kinds {
			obj := k()
			f.Fill(obj)
			if sameEncoding(t, obj, false) {
				direct++
			}
		}
	}
	t.Logf("encoded %d of %d random objects directly", direct, 20*len(kinds))
	if direct < 10*len(kinds) {
		t.Fatalf("encoded only %d of %d random objects directly", direct, 60*len(kinds))
	}
}

// randomString mixes what trips YAML: words of other types, digits, punctuation, line breaks,
// other scripts.
func randomString(intn func(int) int) string {
	special := []string{"", "yes", "No", "on", "~", "null", "true", "1:20", "-3:25:45.5", "0x1f", "0o17", "1e3", ".inf",
		"+1", "1_000", "- x", "a: b", "#c", " lead", "trail ", "two\nlines", "end\n", "'q'", "\"d\"", "*a", "&b", "!t", "%p", "@x",
		"`x", "[a]", "{a}", "a,b", "é", "日本", "x_y", "a-1", "a10", "a9", "A_b", "z~"}
	if intn(3) == 0 {
		return special[intn(len(special))]
	}
	const chars = "abcXYZ019-_./: #\n'\"é"
	var b strings.Builder
	for range intn(8) {
		b.WriteString(string([]rune(chars)[intn(len([]rune(chars)))]))
	}
	return b.String()
}

// TestSortKeys holds the key order to the YAML encoder's, for keys of every kind.
func TestSortKeys(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 2000; i++ {
		keys := map[string]bool{}
		for range 1 + r.IntN(6) {
			keys[randomString(r.IntN)] = true
		}
		var pairs []pair
		want := map[string]int{}
		for k := range keys {
			pairs = append(pairs, pair{key: k})
			want[k] = 0
		}
		if err := sortKeys(pairs); err != nil {
			t.Fatal(err)
		}
		var n yaml.Node
		if err := n.Encode(want); err != nil {
			t.Fatal(err)
		}
		var wantOrder, got []string
		for j := 0; j < len(n.Content); j += 2 {
			wantOrder = append(wantOrder, n.Content[j].Value)
		}
		for _, p := range pairs {
			got = append(got, p.key)
		}
		if diff := cmp.Diff(wantOrder, got); diff != "" {
			t.Fatalf("keys %q (-encoder +sortKeys):\n%s", got, diff)
		}
	}
}

// TestStringNode holds scalar styles to what marshalling and parsing a string gives.
func TestStringNode(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	strs := []string{"1:20", "+1:20:30.5", "190:20:30", "1:60", "1:5", "1::2", ":1", "1:2.", "1_0:2_", "-1:2:3", "1:2:3.4_5", "0:0", "1:2a"}
	for range 3000 {
		strs = append(strs, randomString(r.IntN))
	}
	for _, s := range strs {
		want, err := yaml.FromMap(map[string]any{"k": s})
		if err != nil {
			t.Fatal(err)
		}
		got, err := stringNode(s)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(comparable(want.YNode().Content[1]), comparable(got)); diff != "" {
			t.Fatalf("%q (-round trip +stringNode):\n%s", s, diff)
		}
		n := &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{{Kind: yaml.ScalarNode, Value: "k"}, got}}
		if w, g := want.MustString(), yaml.NewRNode(n).MustString(); w != g {
			t.Fatalf("%q is written as %q, the round trip as %q", s, g, w)
		}
	}
}

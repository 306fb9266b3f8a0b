package capacity

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/hourglass-gitops/hourglass-gitops/api/v1alpha1"
	"github.com/hourglass-gitops/hourglass-gitops/test/framework/repo"
)

// crdPath is the Performer CRD that make manifests writes and the envtest suites install.
const crdPath = "base/crd/hourglass.eigenlayer.io_performers.yaml"

// specSchema reads the schema of the Performer spec from the CRD.
func specSchema(t testing.TB) map[string]any {
	t.Helper()
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, crdPath))
	if err != nil {
		t.Fatal(err)
	}
	var crd map[string]any
	if err := yaml.Unmarshal(b, &crd); err != nil {
		t.Fatal(err)
	}
	versions := crd["spec"].(map[string]any)["versions"].([]any)
	s := versions[0].(map[string]any)["schema"].(map[string]any)["openAPIV3Schema"].(map[string]any)
	return s["properties"].(map[string]any)["spec"].(map[string]any)
}

// largestPerformer is a Performer as large as the CRD admits: every field set, every string at
// its maxLength, every list at its maxItems and every map at its maxProperties with keys as long
// as its rules allow. It fails the test on a string, list or map of the spec without a bound.
func largestPerformer(t testing.TB, schema map[string]any, namespace string, i int) *unstructured.Unstructured {
	t.Helper()
	g := &generator{t: t}
	spec := g.value("spec", schema, i)
	name := fmt.Sprintf("p%d-", i)
	name += strings.Repeat("x", v1alpha1.MaxNameLength-len(name))
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": v1alpha1.GroupVersion.String(),
		"kind":       v1alpha1.PerformerKind,
		"metadata":   map[string]any{"name": name, "namespace": namespace},
		"spec":       spec,
	}}
}

type generator struct{ t testing.TB }

var keyRule = regexp.MustCompile(`^self\.all\(k, size\(k\) <= (\d+)\)$`)

const quantityPattern = `^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$`

// value is the largest value of a schema node; i tells apart the items of a list and the
// entries of a map, which must differ.
func (g *generator) value(path string, s map[string]any, i int) any {
	if enum, ok := s["enum"].([]any); ok {
		return slices.MaxFunc(enum, func(a, b any) int { return len(fmt.Sprint(a)) - len(fmt.Sprint(b)) })
	}
	if s["x-kubernetes-int-or-string"] == true {
		return g.str(path, s, i)
	}
	switch s["type"] {
	case "string":
		return g.str(path, s, i)
	case "integer":
		if maximum, ok := s["maximum"].(float64); ok {
			return int64(maximum)
		}
		if s["format"] == "int32" {
			return int64(1<<31 - 1)
		}
		return int64(1<<53 - 1)
	case "boolean":
		// As long as true, and false leaves suspend off.
		return false
	case "array":
		n := g.bound(path, s, "maxItems")
		items := s["items"].(map[string]any)
		out := make([]any, n)
		for j := range out {
			out[j] = g.value(path+"[]", items, j)
		}
		return out
	case "object":
		if values, ok := s["additionalProperties"].(map[string]any); ok {
			n := g.bound(path, s, "maxProperties")
			keyLength := 0
			rules, _ := s["x-kubernetes-validations"].([]any)
			for _, r := range rules {
				if m := keyRule.FindStringSubmatch(r.(map[string]any)["rule"].(string)); m != nil {
					keyLength, _ = strconv.Atoi(m[1])
				}
			}
			if keyLength == 0 {
				g.t.Fatalf("%s: a map without a bound on its keys", path)
			}
			out := map[string]any{}
			for j := range n {
				out[fill(fmt.Sprintf("k%d-", j), keyLength)] = g.value(path+"{}", values, j)
			}
			return out
		}
		out := map[string]any{}
		props, _ := s["properties"].(map[string]any)
		for _, k := range slices.Sorted(maps.Keys(props)) {
			out[k] = g.value(path+"."+k, props[k].(map[string]any), i)
		}
		if oneOf(s) {
			// Only one property may be set: the largest.
			largest := slices.MaxFunc(slices.Sorted(maps.Keys(out)), func(a, b string) int { return jsonSize(out[a]) - jsonSize(out[b]) })
			return map[string]any{largest: out[largest]}
		}
		return out
	}
	g.t.Fatalf("%s: no value for a schema of type %v", path, s["type"])
	return nil
}

func (g *generator) bound(path string, s map[string]any, key string) int {
	n, ok := s[key].(float64)
	if !ok {
		g.t.Fatalf("%s: no %s", path, key)
	}
	return int(n)
}

func (g *generator) str(path string, s map[string]any, i int) string {
	if s["format"] == "date-time" {
		return "2026-01-01T00:00:00Z"
	}
	n := g.bound(path, s, "maxLength")
	switch pattern, _ := s["pattern"].(string); pattern {
	case "":
		return fill(fmt.Sprintf("v%d-", i), n)
	case `^0x[0-9a-fA-F]{40}$`:
		// An AVS of its own: an AVS has a few performers, not a thousand.
		return fmt.Sprintf("0x%040x", i)
	case quantityPattern:
		return strings.Repeat("9", n)
	default:
		g.t.Fatalf("%s: no value for the pattern %s", path, pattern)
		return ""
	}
}

// fill pads prefix to n characters.
func fill(prefix string, n int) string {
	if len(prefix) >= n {
		return prefix[:n]
	}
	return prefix + strings.Repeat("x", n-len(prefix))
}

// oneOf tells whether a rule of the node allows only one of its properties.
func oneOf(s map[string]any) bool {
	rules, _ := s["x-kubernetes-validations"].([]any)
	for _, r := range rules {
		if strings.HasSuffix(r.(map[string]any)["rule"].(string), ".exists_one(x, x)") {
			return true
		}
	}
	return false
}

func jsonSize(v any) int {
	b, _ := json.Marshal(v)
	return len(b)
}

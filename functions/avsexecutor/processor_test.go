package avsexecutor

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/kustomize/kyaml/fn/framework"
	"sigs.k8s.io/kustomize/kyaml/kio"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/hourglass-gitops/hourglass-gitops/api/hardware"
	"github.com/hourglass-gitops/hourglass-gitops/api/v1alpha1"
)

const testdata = "testdata"

// testCase is a testdata directory: an AVSExecutor and the other input objects.
type testCase struct {
	name   string
	config []byte
	input  []byte
	fails  bool
}

func testCases(t testing.TB) []testCase {
	t.Helper()
	dirs, err := os.ReadDir(testdata)
	if err != nil {
		t.Fatal(err)
	}
	var cases []testCase
	for _, d := range dirs {
		if !d.IsDir() || d.Name() == "fuzz" {
			continue
		}
		dir := filepath.Join(testdata, d.Name())
		cfg, err := os.ReadFile(filepath.Join(dir, "config.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		in, err := os.ReadFile(filepath.Join(dir, "input.yaml"))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		_, statErr := os.Stat(filepath.Join(dir, "errors.txt"))
		cases = append(cases, testCase{name: d.Name(), config: cfg, input: in, fails: statErr == nil})
	}
	if len(cases) < 20 {
		t.Fatalf("found only %d test cases in %s", len(cases), testdata)
	}
	return cases
}

// resourceList wraps a declaration and input objects the way kustomize and kpt hand them to the
// function.
func resourceList(t testing.TB, config, input []byte) []byte {
	t.Helper()
	fc, err := yaml.Parse(string(config))
	if err != nil {
		t.Fatal(err)
	}
	var items []*yaml.RNode
	if len(bytes.TrimSpace(input)) > 0 {
		items, err = (&kio.ByteReader{Reader: bytes.NewReader(input), OmitReaderAnnotations: true}).Read()
		if err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	w := kio.ByteWriter{Writer: &out, WrappingKind: kio.ResourceListKind, WrappingAPIVersion: kio.ResourceListAPIVersion, FunctionConfig: fc}
	if err := w.Write(items); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// processConfig runs the processor on the function configuration in file, with no input items,
// and returns the resource list it wrote.
func processConfig(t *testing.T, file string) *framework.ResourceList {
	t.Helper()
	cfg, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	fc, err := yaml.Parse(string(cfg))
	if err != nil {
		t.Fatal(err)
	}
	rl := &framework.ResourceList{FunctionConfig: fc}
	if err := (Processor{}).Process(rl); err != nil {
		t.Fatal(err)
	}
	return rl
}

// execute runs the processor on a serialized ResourceList, as the function binary does.
func execute(t testing.TB, in []byte) ([]byte, error) {
	t.Helper()
	var out bytes.Buffer
	err := framework.Execute(Processor{}, &kio.ByteReadWriter{Reader: bytes.NewReader(in), Writer: &out, KeepReaderAnnotations: true})
	return out.Bytes(), err
}

func items(t testing.TB, rl []byte) []*yaml.RNode {
	t.Helper()
	r := &kio.ByteReadWriter{Reader: bytes.NewReader(rl), KeepReaderAnnotations: true}
	its, err := r.Read()
	if err != nil {
		t.Fatal(err)
	}
	return its
}

// TestIdempotent runs the function on its own output: nothing changes, nothing is duplicated.
func TestIdempotent(t *testing.T) {
	for _, tc := range testCases(t) {
		if tc.fails {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			first, err := execute(t, resourceList(t, tc.config, tc.input))
			if err != nil {
				t.Fatal(err)
			}
			second, err := execute(t, first)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(first), string(second)); diff != "" {
				t.Errorf("second run changed the output (-first +second):\n%s", diff)
			}
		})
	}
}

// TestDeterministic renders every case repeatedly: the bytes never change, whatever order Go
// iterates maps in.
func TestDeterministic(t *testing.T) {
	for _, tc := range testCases(t) {
		in := resourceList(t, tc.config, tc.input)
		want, _ := execute(t, in)
		for i := 0; i < 10; i++ {
			got, _ := execute(t, in)
			if !bytes.Equal(got, want) {
				t.Fatalf("%s: run %d differs:\n%s", tc.name, i, cmp.Diff(string(want), string(got)))
			}
		}
	}
}

// TestPassThrough checks that input objects come out byte for byte as they went in, comments and
// kpt's path annotations included.
func TestPassThrough(t *testing.T) {
	tc := testCase{}
	for _, c := range testCases(t) {
		if c.name == "profile-custom-resource" {
			tc = c
		}
	}
	in := resourceList(t, tc.config, tc.input)
	in = bytes.Replace(in, []byte("platform-team # kept\n"), []byte("platform-team # kept\n      internal.config.kubernetes.io/path: unrelated.yaml\n"), 1)
	if !bytes.Contains(in, []byte("path: unrelated.yaml")) {
		t.Fatal("could not add a path annotation to the pass-through object")
	}
	before := items(t, in)
	out, err := execute(t, in)
	if err != nil {
		t.Fatal(err)
	}
	after := items(t, out)
	if len(after) <= len(before) {
		t.Fatalf("no objects rendered")
	}
	for i := range before {
		b, a := before[i].MustString(), after[i].MustString()
		if diff := cmp.Diff(b, a); diff != "" {
			t.Errorf("input object %d changed (-in +out):\n%s", i, diff)
		}
	}
}

// TestErrorsEmitNothing checks every refused declaration: the processor returns its results (so
// the binary exits non-zero), each result is an error naming the resource, the items are the
// input as it was, and nothing rendered is added.
func TestErrorsEmitNothing(t *testing.T) {
	for _, tc := range testCases(t) {
		if !tc.fails {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			in := resourceList(t, tc.config, tc.input)
			rl := &framework.ResourceList{Items: items(t, in)}
			var err error
			rl.FunctionConfig, err = yaml.Parse(string(tc.config))
			if err != nil {
				t.Fatal(err)
			}
			before := len(rl.Items)
			perr := Processor{}.Process(rl)
			results, ok := perr.(framework.Results)
			if !ok || results.ExitCode() != 1 {
				t.Fatalf("Process returned %v, want the error results", perr)
			}
			if len(rl.Items) != before {
				t.Errorf("items: %d, want the %d input objects", len(rl.Items), before)
			}
			for _, it := range rl.Items {
				if _, ok := it.GetAnnotations()[DeclarationAnnotation]; ok {
					t.Errorf("rendered object %s %s emitted despite errors", it.GetKind(), it.GetName())
				}
			}
			for _, r := range results {
				if r.Severity != framework.Error || r.ResourceRef == nil || r.ResourceRef.Kind == "" || r.Message == "" {
					t.Errorf("incomplete result %+v", r)
				}
			}
		})
	}
}

// TestInlineKeysWarn checks that allowed inline keys are rendered, with a warning that says what
// the risk is.
func TestInlineKeysWarn(t *testing.T) {
	rl := processConfig(t, filepath.Join(testdata, "inline-keys-allowed", "config.yaml"))
	if len(rl.Results) != 1 || rl.Results[0].Severity != framework.Warning || rl.Results[0].Field.Path != "spec.secrets.operatorKeys" ||
		!strings.Contains(rl.Results[0].Message, "plain text") {
		t.Fatalf("results: %v, want one warning about plain-text keys", rl.Results)
	}
	var secrets int
	for _, it := range rl.Items {
		if it.GetKind() == "Secret" {
			secrets++
		}
	}
	if secrets != 1 {
		t.Fatalf("%d Secrets rendered, want 1", secrets)
	}
}

// TestNoSecretMaterial checks that keys referenced from a Secret never appear in the output.
func TestNoSecretMaterial(t *testing.T) {
	for _, tc := range testCases(t) {
		if tc.fails || tc.name == "inline-keys-allowed" {
			continue
		}
		out, err := execute(t, resourceList(t, tc.config, tc.input))
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items(t, out) {
			if it.GetKind() == "Secret" {
				t.Errorf("%s: rendered a Secret %s without inline keys", tc.name, it.GetName())
			}
		}
	}
}

// TestControllerAgrees applies the controller's hardware mapping to every rendered Performer
// once more: it must find nothing to add, or the controller would fight Git.
func TestControllerAgrees(t *testing.T) {
	for _, tc := range testCases(t) {
		if tc.fails {
			continue
		}
		out, err := execute(t, resourceList(t, tc.config, tc.input))
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items(t, out) {
			if it.GetKind() != v1alpha1.PerformerKind {
				continue
			}
			var p v1alpha1.Performer
			m, err := it.Map()
			if err != nil {
				t.Fatal(err)
			}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m, &p); err != nil {
				t.Fatal(err)
			}
			if errs := hardware.Validate(field.NewPath("spec"), p.Spec.HardwareRequirements, p.Spec.Scheduling); len(errs) > 0 {
				t.Errorf("%s/%s: %v", tc.name, p.Name, errs)
			}
			again := hardware.Resolve(p.Spec.HardwareRequirements, p.Spec.Scheduling, p.Spec.Resources)
			sched, res := v1alpha1.Scheduling{}, corev1.ResourceRequirements{}
			if p.Spec.Scheduling != nil {
				sched = *p.Spec.Scheduling
			}
			if p.Spec.Resources != nil {
				res = *p.Spec.Resources
			}
			if diff := cmp.Diff(sched, again.Scheduling); diff != "" {
				t.Errorf("%s/%s: resolving again changes scheduling (-rendered +again):\n%s", tc.name, p.Name, diff)
			}
			if !equality.Semantic.DeepEqual(res, again.Resources) {
				t.Errorf("%s/%s: resolving again changes resources: %v → %v", tc.name, p.Name, res, again.Resources)
			}
		}
	}
}

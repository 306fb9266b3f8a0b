package main

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the examples' committed output (examples/*/.expected/output.yaml)")

// expectedOutput is where an example's README points for what it renders. kpt and the Argo CD
// plugin skip the hidden folder, so it is never read as part of the package.
func expectedOutput(example string) string {
	return filepath.Join("..", "examples", example, ".expected", "output.yaml")
}

// TestExampleOutputs renders every example with the kustomize CLI, as its README says, and
// compares the output with the committed one.
func TestExampleOutputs(t *testing.T) {
	kustomize := kustomizeCLI(t)
	root := exampleTree(t)
	for _, ex := range examples {
		t.Run(ex, func(t *testing.T) {
			got := renderExample(t, kustomize, filepath.Join(root, "examples", ex))
			path := expectedOutput(ex)
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v: write it with: go test ./functions/ -run TestExampleOutputs -update", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("examples/%s renders differently from its committed output (-committed +rendered):\n%s\n"+
					"If the change is intended, update it with: go test ./functions/ -run TestExampleOutputs -update", ex, diff)
			}
		})
	}
}

package avsexecutor

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/spf13/cobra"
	"sigs.k8s.io/kustomize/kyaml/fn/framework/command"
	"sigs.k8s.io/kustomize/kyaml/fn/framework/frameworktestutil"
)

var update = flag.Bool("update", false, "rewrite testdata/*/expected.yaml from the actual output (errors.txt files are written by hand)")

// standalone runs the processor the way the golden files are written: config.yaml as the
// function config and input*.yaml as the items. The released binary disables this mode.
func standalone() *cobra.Command {
	return command.Build(Processor{}, command.StandaloneEnabled, false)
}

// TestGolden renders every testdata/<case>: config.yaml (an AVSExecutor) with input*.yaml, and
// compares with expected.yaml, or with errors.txt (one regular expression per line) for
// declarations that must be refused.
func TestGolden(t *testing.T) {
	if *update {
		updateGolden(t)
	}
	c := frameworktestutil.CommandResultsChecker{Command: standalone}
	c.Assert(t)
}

// updateGolden rewrites expected.yaml of the cases that render. frameworktestutil's own update
// mode would also overwrite the hand-written regular expressions of errors.txt.
func updateGolden(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join("testdata", "*", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, cfg := range dirs {
		dir := filepath.Dir(cfg)
		if _, err := os.Stat(filepath.Join(dir, "errors.txt")); err == nil {
			continue
		}
		args := []string{cfg}
		inputs, _ := filepath.Glob(filepath.Join(dir, "input*.yaml"))
		args = append(args, inputs...)
		var out, stderr bytes.Buffer
		cmd := standalone()
		cmd.SetArgs(args)
		cmd.SetOut(&out)
		cmd.SetErr(&stderr)
		if err := cmd.Execute(); err != nil {
			t.Fatalf("%s: %v\n%s", dir, err, stderr.String())
		}
		if err := os.WriteFile(filepath.Join(dir, "expected.yaml"), out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

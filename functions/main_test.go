package main

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/hourglass-gitops/hourglass-gitops/functions/profiles"
)

// TestHelp checks that the binary documents itself and names every built-in profile.
func TestHelp(t *testing.T) {
	out, err := exec.Command(binary(t), "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("--help: %v\n%s", err, out)
	}
	for _, want := range append([]string{"AVSExecutor", "kpt fn render --allow-exec", "functions/README.md"}, profiles.Names(profiles.BuiltIn(nil))...) {
		if !strings.Contains(string(out), want) {
			t.Errorf("--help does not mention %q:\n%s", want, out)
		}
	}
}

// TestRefusesArguments checks that the binary never switches to kyaml's standalone mode, which
// would read its configuration from a file argument instead of the ResourceList.
func TestRefusesArguments(t *testing.T) {
	cmd := exec.Command(binary(t), goldenDir+"/walkthrough-values/config.yaml")
	cmd.Stdin = strings.NewReader("")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "takes no arguments") {
		t.Fatalf("got %v with output %q, want a refusal", err, out)
	}
}

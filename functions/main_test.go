package main

import (
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

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

// TestStartingHeap checks that the raised GOGC lasts until the first collection only, so that a
// large input's heap is collected as usual afterwards.
func TestStartingHeap(t *testing.T) {
	if os.Getenv("GOGC") != "" {
		t.Skip("GOGC is set in the environment, which startingHeap leaves alone")
	}
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	startingHeap()
	if got := debug.SetGCPercent(startingHeapGOGC); got != startingHeapGOGC {
		t.Fatalf("GOGC after startingHeap: %d, want %d", got, startingHeapGOGC)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		runtime.GC()
		// Reading GOGC means setting it; set what was read.
		got := debug.SetGCPercent(-1)
		debug.SetGCPercent(got)
		if got == 100 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GOGC is still %d after collections, want 100", got)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

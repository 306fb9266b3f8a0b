package main

import (
	"bytes"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/hourglass-gitops/hourglass-gitops/functions/avsexecutor"
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

// TestHelpForms checks that --help shows both ways to run the function, with the image of this
// release, and that its declaration example renders.
func TestHelpForms(t *testing.T) {
	out, err := exec.Command(binary(t), "--help").Output()
	if err != nil {
		t.Fatal(err)
	}
	help := string(out)
	for _, want := range []string{"- image: ghcr.io/hourglass-gitops/avs-executor-fn:" + avsexecutor.DefaultForwarderTag,
		"- exec: avs-executor-fn", "container:", "exec:", "--enable-exec", "kpt fn eval --image"} {
		if !strings.Contains(help, want) {
			t.Errorf("--help does not show %q:\n%s", want, help)
		}
	}
	// The example: from its apiVersion line to the blank line after it, indented by two.
	start := strings.Index(help, "  apiVersion: fn.hourglass.eigenlayer.io/v1alpha1")
	if start < 0 {
		t.Fatalf("--help has no declaration example:\n%s", help)
	}
	example, _, _ := strings.Cut(help[start:], "\n\n")
	var config strings.Builder
	for _, l := range strings.Split(example, "\n") {
		config.WriteString("    " + strings.TrimPrefix(l, "  ") + "\n")
	}
	list := "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems: []\nfunctionConfig:\n" + config.String()
	cmd := exec.Command(binary(t))
	cmd.Stdin = strings.NewReader(list)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	rendered, err := cmd.Output()
	if err != nil {
		t.Fatalf("the example of --help does not render: %v\n%s\n%s", err, stderr.String(), list)
	}
	if !strings.Contains(string(rendered), "kind: Performer") {
		t.Errorf("the example of --help renders no Performer:\n%s", rendered)
	}
}

// TestErrors checks what a user sees on stderr for common mistakes: the field to change, a
// message that says what to write, and a final newline (kustomize appends its own message, which
// would otherwise continue the last line).
func TestErrors(t *testing.T) {
	decl, err := os.ReadFile("../examples/basic/executor.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, old, new string
		want           []string
	}{
		{"wrong kind", "kind: AVSExecutor", "kind: AVSExecutr",
			[]string{"/AVSExecutr/my-avs-project/my-avs-executor kind: ", "it must be a fn.hourglass.eigenlayer.io/v1alpha1 AVSExecutor"}},
		{"wrong apiVersion", "apiVersion: fn.hourglass.eigenlayer.io/v1alpha1", "apiVersion: fn.hourglass.eigenlayer.io/v1",
			[]string{"my-avs-executor apiVersion: "}},
		{"https endpoint", `endpoint: "your-aggregator.example.com:9090"`, `endpoint: "https://your-aggregator.example.com"`,
			[]string{"spec.aggregator.endpoint: ", "give host:port without https://, and tls.enabled: true (port 443 if the URL has none)"}},
		{"endpoint without port", `endpoint: "your-aggregator.example.com:9090"`, `endpoint: "your-aggregator.example.com"`,
			[]string{"spec.aggregator.endpoint: ", "aggregator.example.com:9000"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := strings.Replace(string(decl), tc.old, tc.new, 1)
			if bad == string(decl) {
				t.Fatalf("examples/basic/executor.yaml has no %q", tc.old)
			}
			var config strings.Builder
			for _, l := range strings.Split(bad, "\n") {
				config.WriteString("  " + l + "\n")
			}
			cmd := exec.Command(binary(t))
			cmd.Stdin = strings.NewReader("apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems: []\nfunctionConfig:\n" + config.String())
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Run(); err == nil {
				t.Fatal("the function accepted it")
			}
			msg := stderr.String()
			for _, want := range tc.want {
				if !strings.Contains(msg, want) {
					t.Errorf("stderr %q does not contain %q", msg, want)
				}
			}
			if !strings.HasSuffix(msg, "\n") || strings.HasSuffix(msg, "\n\n") {
				t.Errorf("stderr does not end with exactly one newline: %q", msg)
			}
		})
	}
	// Arguments are refused the same way.
	cmd := exec.Command(binary(t), "extra")
	cmd.Stdin = strings.NewReader("")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err == nil || !strings.HasSuffix(stderr.String(), "see --help\n") {
		t.Errorf("with an argument: %v, stderr %q, want a refusal ending with a newline", err, stderr.String())
	}
}

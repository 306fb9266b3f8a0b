// Package e2erun is the frame the end-to-end tests share: they run only when asked for
// (HOURGLASS_E2E=1), log what their helpers print into the test's log, and time their phases and
// steps.
package e2erun

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Gate skips t unless HOURGLASS_E2E=1, saying which make target runs it, and fails it when a
// tool it needs is not on the PATH.
func Gate(t *testing.T, what, target string, tools ...string) {
	t.Helper()
	if os.Getenv("HOURGLASS_E2E") != "1" {
		t.Skipf("%s: run it with `make %s` (HOURGLASS_E2E=1)", what, target)
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not on PATH: the %s needs it", tool, what)
		}
	}
}

// Log writes what it is given into the test's log, a line at a time.
type Log struct{ T *testing.T }

// Write logs p in the test's log, a line at a time.
func (w Log) Write(p []byte) (int, error) {
	w.T.Helper()
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		w.T.Log(line)
	}
	return len(p), nil
}

// Clock times a test's phases and steps from its start.
type Clock struct {
	t     *testing.T
	start time.Time
}

// Start starts timing t.
func Start(t *testing.T) *Clock { return &Clock{t: t, start: time.Now()} }

// Phase runs one set-up step and logs how long it took; an error ends the test.
func (c *Clock) Phase(name string, f func() error) {
	c.t.Helper()
	t0 := time.Now()
	c.t.Logf("==> %s", name)
	if err := f(); err != nil {
		c.t.Fatalf("%s: %v", name, err)
	}
	c.t.Logf("    %s: %.1fs (total %.1fs)", name, time.Since(t0).Seconds(), time.Since(c.start).Seconds())
}

// Step is one check of an end-to-end test, run as a subtest.
type Step struct {
	Name string
	F    func(t *testing.T, ctx context.Context)
	// Essential steps are what every later step relies on: when one fails, the rest do not run.
	Essential bool
}

// Steps runs the steps in order as subtests and logs how long each took. It stops after a failed
// essential step or once ctx is done, and reports whether every step that ran passed.
func (c *Clock) Steps(ctx context.Context, steps []Step) bool {
	c.t.Helper()
	for _, s := range steps {
		t0 := time.Now()
		ok := c.t.Run(s.Name, func(t *testing.T) { s.F(t, ctx) })
		c.t.Logf("    %s: %.1fs (total %.1fs)", s.Name, time.Since(t0).Seconds(), time.Since(c.start).Seconds())
		if !ok && (s.Essential || ctx.Err() != nil) {
			return false
		}
	}
	return !c.t.Failed()
}

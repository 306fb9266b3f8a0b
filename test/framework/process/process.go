// Package process builds the repository's binaries for tests and runs them as processes that end
// with the test: SIGTERM, a bounded wait for a clean exit, then SIGKILL. A process writes to a log
// file, whose end the test shows when it failed.
package process

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hourglass-gitops/hourglass-gitops/test/framework/repo"
)

// GoBuild builds package pkg (such as ./controller, relative to the repository root) into the
// binary out, statically and with the local toolchain, as the images build it.
func GoBuild(ctx context.Context, pkg, out string) error {
	root, err := repo.Root()
	if err != nil {
		return err
	}
	build := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOTOOLCHAIN=local", "GOFLAGS=-buildvcs=false")
	if b, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("building %s: %v\n%s", pkg, err, b)
	}
	return nil
}

// Build builds package pkg into a temporary folder of t and returns the binary's path.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), filepath.Base(pkg))
	if err := GoBuild(context.Background(), pkg, bin); err != nil {
		t.Fatal(err)
	}
	return bin
}

// Kubeconfig writes a kubeconfig to a temporary folder of t and returns its path, for a binary
// that takes --kubeconfig.
func Kubeconfig(t testing.TB, kubeconfig []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, kubeconfig, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// StopGrace is how long Stop waits after SIGTERM before it kills the process.
const StopGrace = 15 * time.Second

// logTail is how much of the log a failed test shows.
const logTail = 20000

// Process is a running binary, started by Start.
type Process struct {
	Cmd     *exec.Cmd
	LogPath string

	t       testing.TB
	name    string
	done    chan error
	once    sync.Once
	stopErr error
}

// ErrKilled is Stop's error when the process did not exit within StopGrace of SIGTERM.
var ErrKilled = errors.New("killed: no exit within the grace period after SIGTERM")

// Start runs bin with args, env added to the test's environment, and its output in a log file of
// a temporary folder of t. The process is stopped when the test ends; a stop that is not a clean
// exit or an exit status (a process that cannot be waited for) fails the test.
func Start(t testing.TB, bin string, env []string, args ...string) *Process {
	t.Helper()
	name := filepath.Base(bin)
	logFile, err := os.Create(filepath.Join(t.TempDir(), name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &Process{Cmd: cmd, LogPath: logFile.Name(), t: t, name: name, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		var exit *exec.ExitError
		if err := p.Stop(); err != nil && !errors.Is(err, ErrKilled) && !errors.As(err, &exit) {
			t.Errorf("%s: %v", name, err)
		}
	})
	return p
}

// Stop sends SIGTERM, waits up to StopGrace for the process to exit and kills it otherwise. It
// returns the exit's error (nil for a clean exit, ErrKilled for a kill); calling it again
// returns the same. Once the test has failed, it shows the end of the log.
func (p *Process) Stop() error {
	p.once.Do(func() {
		_ = p.Cmd.Process.Signal(syscall.SIGTERM)
		select {
		case p.stopErr = <-p.done:
		case <-time.After(StopGrace):
			_ = p.Cmd.Process.Kill()
			<-p.done
			p.stopErr = ErrKilled
		}
		if p.t.Failed() {
			p.t.Logf("%s log (end):\n%s", p.name, tail(p.Log(), logTail))
		}
	})
	return p.stopErr
}

// Log is what the process wrote so far.
func (p *Process) Log() string {
	b, err := os.ReadFile(p.LogPath)
	if err != nil {
		return fmt.Sprintf("(reading %s: %v)", p.LogPath, err)
	}
	return string(b)
}

// tail is the last n bytes of s.
func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// CachedBins runs one of the scripts under hack/ that build a set of binaries once and cache
// them (flux-bins.sh, argocd-bins.sh), with its progress on out, and returns the folder the script
// prints on the last line of its output.
func CachedBins(ctx context.Context, root, script string, out io.Writer) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(root, "hack", script))
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("hack/%s: %w", script, err)
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	return strings.TrimSpace(lines[len(lines)-1]), nil
}

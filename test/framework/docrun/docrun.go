// Package docrun runs the shell blocks of a Markdown page as a reader would type them, so that a
// test keeps the page's commands working.
//
// Only blocks fenced as ```sh run; other fences (```bash, ```text) are shown to the reader but not
// run, for commands that need what a test cannot have.
package docrun

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Block is one sh block of a page.
type Block struct {
	// Script is the block's text.
	Script string
	// Section is the heading the block is under.
	Section string
	// Line is the line of the opening fence.
	Line int
}

// Blocks returns the sh blocks of the page at path, in order.
func Blocks(path string) ([]Block, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Block
	var cur *Block
	var script strings.Builder
	section := ""
	fenced := false
	s := bufio.NewScanner(f)
	for n := 1; s.Scan(); n++ {
		l := s.Text()
		switch {
		case cur == nil && !fenced && strings.HasPrefix(l, "#"):
			section = strings.TrimSpace(strings.TrimLeft(l, "#"))
		case cur == nil && !fenced && l == "```sh":
			cur = &Block{Section: section, Line: n}
			script.Reset()
		case cur == nil && strings.HasPrefix(l, "```"):
			fenced = !fenced // another language's block: skipped
		case cur != nil && l == "```":
			cur.Script = script.String()
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			script.WriteString(l + "\n")
		}
	}
	if err := s.Err(); err != nil {
		return nil, err
	}
	if cur != nil || fenced {
		return nil, fmt.Errorf("%s: a code block is not closed", path)
	}
	return out, nil
}

// Shell runs blocks one after the other in bash (set -euo pipefail) in Dir, each with what the
// earlier ones exported and the variables they set.
type Shell struct {
	Dir string
	// Env is the environment of the first block.
	Env []string

	state string
}

// Run runs one block and returns its combined output and how long it took.
func (s *Shell) Run(ctx context.Context, b Block) (string, time.Duration, error) {
	if s.state == "" {
		d, err := os.MkdirTemp("", "docrun-")
		if err != nil {
			return "", 0, err
		}
		s.state = filepath.Join(d, "state")
		if err := os.WriteFile(s.state, nil, 0o600); err != nil {
			return "", 0, err
		}
	}
	// declare -p keeps plain variables (RELEASE=...) for the next block, export -p what was
	// exported; both are read back with source.
	script := "set -euo pipefail\nsource " + s.state + "\n" + b.Script +
		"{ export -p; declare -p | grep -E '^declare -- [A-Za-z_][A-Za-z0-9_]*=' | grep -vE '^declare -- (BASH|SHELL|SHLVL|PWD|OLDPWD|_|PPID|UID|EUID|HOSTNAME|HOSTTYPE|MACHTYPE|OSTYPE|OPTERR|OPTIND|IFS|PS4|COLUMNS|LINES|EPOCH|SRANDOM|RANDOM|SECONDS|LINENO|HISTCMD|BASHPID|BASH_[A-Z_]*)=' || true; } > " + s.state + "\n"
	cmd := exec.CommandContext(ctx, "bash", "-c", script)
	cmd.Dir = s.Dir
	cmd.Env = s.Env
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	start := time.Now()
	err := cmd.Run()
	return buf.String(), time.Since(start), err
}

// Close removes the shell's state.
func (s *Shell) Close() {
	if s.state != "" {
		os.RemoveAll(filepath.Dir(s.state))
	}
}

// CopyTree copies the files Git knows of root (tracked and untracked, not ignored) into dst: what
// a clone of the working tree holds.
func CopyTree(root, dst string) error {
	cmd := exec.Command("git", "ls-files", "-z", "-co", "--exclude-standard")
	cmd.Dir = root
	list, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("git ls-files: %w", err)
	}
	for _, name := range strings.Split(strings.TrimRight(string(list), "\x00"), "\x00") {
		src := filepath.Join(root, name)
		info, err := os.Lstat(src)
		if os.IsNotExist(err) {
			continue // deleted in the working tree
		}
		if err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			continue
		}
		b, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dst, name)), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dst, name), b, info.Mode().Perm()|0o200); err != nil {
			return err
		}
	}
	return nil
}

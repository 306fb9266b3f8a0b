// Package gitserver serves Git repositories over smart HTTP on loopback, the way a Git host does,
// with `git http-backend` behind net/http/cgi. Flux's source-controller and Argo CD's repo server
// clone from it and see pushed commits as they would on a real host.
package gitserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Server serves the bare repositories under its folder at http://<addr>/<name>.git.
type Server struct {
	dir  string
	addr string
	srv  *http.Server
	done chan struct{}
}

// Start serves the bare repositories under dir on a free loopback port.
func Start(dir string) (*Server, error) { return StartAt(dir, "127.0.0.1:0") }

// StartAt serves the bare repositories under dir on addr.
func StartAt(dir, addr string) (*Server, error) {
	gitPath, err := exec.LookPath("git")
	if err != nil {
		return nil, errors.New("gitserver: git is not on the PATH")
	}
	out, err := exec.Command(gitPath, "--exec-path").Output()
	if err != nil {
		return nil, fmt.Errorf("gitserver: git --exec-path: %w", err)
	}
	backend := filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	h := &cgi.Handler{
		Path: backend,
		Env: []string{
			"GIT_PROJECT_ROOT=" + dir,
			"GIT_HTTP_EXPORT_ALL=1",
			// Pushes over HTTP need an authenticated user; loopback needs none.
			"REMOTE_USER=gitops",
		},
	}
	s := &Server{dir: dir, addr: l.Addr().String(), srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}, done: make(chan struct{})}
	go func() { _ = s.srv.Serve(l); close(s.done) }()
	return s, nil
}

// URL is the clone URL of the repository name (without .git).
func (s *Server) URL(name string) string { return "http://" + s.addr + "/" + name + ".git" }

// Elsewhere is a handle on repositories that another process serves from dir at addr: it
// creates repositories and names their URLs, and serves nothing itself.
func Elsewhere(dir, addr string) *Server { return &Server{dir: dir, addr: addr} }

// Addr is the address served.
func (s *Server) Addr() string { return s.addr }

// Wait blocks until the server stops.
func (s *Server) Wait() { <-s.done }

// Close stops serving.
func (s *Server) Close() error {
	if s.srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.srv.Shutdown(ctx)
}

// Repo is a bare repository on the server with a work tree beside it for making commits.
type Repo struct {
	Bare string // the served bare repository
	Work string // a clone to commit in
}

// NewRepo creates the bare repository name.git, with a work tree in work, on branch main.
func (s *Server) NewRepo(ctx context.Context, name, work string) (*Repo, error) {
	r := &Repo{Bare: filepath.Join(s.dir, name+".git"), Work: work}
	if err := git(ctx, "", "init", "-q", "--bare", "-b", "main", r.Bare); err != nil {
		return nil, err
	}
	if err := git(ctx, "", "-C", r.Bare, "config", "http.receivepack", "true"); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(work, 0o755); err != nil {
		return nil, err
	}
	if err := git(ctx, work, "init", "-q", "-b", "main"); err != nil {
		return nil, err
	}
	return r, git(ctx, work, "remote", "add", "origin", r.Bare)
}

// Commit commits everything in the work tree (additions, changes and deletions) and pushes it.
// It returns the new commit's hash.
func (r *Repo) Commit(ctx context.Context, message string) (string, error) {
	if err := git(ctx, r.Work, "add", "-A"); err != nil {
		return "", err
	}
	if err := git(ctx, r.Work, "-c", "user.name=gitops", "-c", "user.email=gitops@localhost",
		"commit", "-q", "--allow-empty", "-m", message); err != nil {
		return "", err
	}
	if err := git(ctx, r.Work, "push", "-q", "origin", "HEAD:main"); err != nil {
		return "", err
	}
	out, err := exec.CommandContext(ctx, "git", "-C", r.Work, "rev-parse", "HEAD").Output()
	return strings.TrimSpace(string(out)), err
}

// Tag tags the work tree's HEAD and pushes the tag, as a release does.
func (r *Repo) Tag(ctx context.Context, tag string) error {
	if err := git(ctx, r.Work, "tag", "-f", tag); err != nil {
		return err
	}
	return git(ctx, r.Work, "push", "-q", "-f", "origin", "refs/tags/"+tag)
}

func git(ctx context.Context, dir string, args ...string) error {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	// Neither the user's nor the machine's Git configuration may change what the tests see.
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

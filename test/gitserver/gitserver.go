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
}

// Start serves the bare repositories under dir on a free loopback port.
func Start(dir string) (*Server, error) {
	gitPath, err := exec.LookPath("git")
	if err != nil {
		return nil, errors.New("gitserver: git is not on the PATH")
	}
	out, err := exec.Command(gitPath, "--exec-path").Output()
	if err != nil {
		return nil, fmt.Errorf("gitserver: git --exec-path: %w", err)
	}
	backend := filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
	l, err := net.Listen("tcp", "127.0.0.1:0")
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
	s := &Server{dir: dir, addr: l.Addr().String(), srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}}
	go func() { _ = s.srv.Serve(l) }()
	return s, nil
}

// URL is the clone URL of the repository name (without .git).
func (s *Server) URL(name string) string { return "http://" + s.addr + "/" + name + ".git" }

// Close stops serving.
func (s *Server) Close() error {
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

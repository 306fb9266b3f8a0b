// Package argocd runs the real Argo CD against a local cluster of hack/local-cluster.sh: Redis, the
// config management plugin (CMP) server with the plugin of examples/argocd, the repo server and the
// application controller, as local processes (KWOK pods run no containers). The components come
// from hack/argocd-bins.sh; the CRDs, argocd-cm and the rest of Argo CD's configuration are
// installed the way Argo CD's own manifests install them.
package argocd

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// Namespace is where Argo CD and its Applications live.
const Namespace = "argocd"

// PluginName is the name of the plugin in examples/argocd/cmp-plugin.yaml.
const PluginName = "hourglass-kustomize"

// Binaries builds (once, then cached) the Argo CD components with hack/argocd-bins.sh, installing
// Redis if it is missing, and returns their folder.
func Binaries(ctx context.Context, root string, out io.Writer) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(root, "hack", "argocd-bins.sh"))
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("hack/argocd-bins.sh: %w", err)
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	return lines[len(lines)-1], nil
}

// Options says where Argo CD runs and what it renders with.
type Options struct {
	// Root is the repository root (examples/argocd is read from there).
	Root string
	// Bins is the folder of hack/argocd-bins.sh.
	Bins string
	// Dir is the state folder: logs/, sockets, work folders.
	Dir string
	// Kubeconfig is an admin kubeconfig of the cluster.
	Kubeconfig string
	// Kustomize and Function are the plugin's tools (what the sidecar image carries).
	Kustomize, Function string
	// AppResync is the application controller's --app-resync (how often it re-reads Git).
	AppResync time.Duration
	// Out receives progress output.
	Out io.Writer
}

// ArgoCD is a running Argo CD.
type ArgoCD struct {
	opts  Options
	procs []*process
	// RepoServer is the repo server's gRPC address.
	RepoServer string
	// Redis is Redis's address.
	Redis string
}

type process struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
	log  string
	// kill: the CMP server ignores SIGTERM (it only removes its socket).
	kill bool
}

// Install applies Argo CD's CRDs and configuration: the Application and AppProject CRDs of the
// built version, argocd-cm from examples/argocd as shipped (the Performer health check), empty
// argocd-rbac-cm and argocd-cmd-params-cm, argocd-secret with a server key, and the default
// AppProject (which argocd-server creates on a real install).
func Install(ctx context.Context, opts Options) error {
	if err := kubectlApply(ctx, opts.Kubeconfig, nil, "-f", filepath.Join(opts.Bins, "crds")); err != nil {
		return err
	}
	for _, crd := range []string{"applications.argoproj.io", "appprojects.argoproj.io"} {
		// kubectl's jsonpath fails while the CRD has no conditions yet.
		var got string
		var err error
		for t0 := time.Now(); got != "True"; time.Sleep(200 * time.Millisecond) {
			if time.Since(t0) > time.Minute {
				return fmt.Errorf("CRD %s is not Established after a minute (%v)", crd, err)
			}
			got, err = kubectl(ctx, opts.Kubeconfig, nil, "get", "crd", crd, "-o", `jsonpath={.status.conditions[?(@.type=="Established")].status}`)
		}
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	config := fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata:
  name: %[1]s
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-rbac-cm
  namespace: %[1]s
  labels: {app.kubernetes.io/name: argocd-rbac-cm, app.kubernetes.io/part-of: argocd}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-cmd-params-cm
  namespace: %[1]s
  labels: {app.kubernetes.io/name: argocd-cmd-params-cm, app.kubernetes.io/part-of: argocd}
---
apiVersion: v1
kind: Secret
metadata:
  name: argocd-secret
  namespace: %[1]s
  labels: {app.kubernetes.io/name: argocd-secret, app.kubernetes.io/part-of: argocd}
stringData:
  server.secretkey: %[2]s
---
apiVersion: argoproj.io/v1alpha1
kind: AppProject
metadata:
  name: default
  namespace: %[1]s
spec:
  sourceRepos: ["*"]
  destinations: [{namespace: "*", server: "*"}]
  clusterResourceWhitelist: [{group: "*", kind: "*"}]
`, Namespace, hex.EncodeToString(key))
	if err := kubectlApply(ctx, opts.Kubeconfig, strings.NewReader(config), "-f", "-"); err != nil {
		return err
	}
	return kubectlApply(ctx, opts.Kubeconfig, nil, "-f", filepath.Join(opts.Root, "examples", "argocd", "argocd-cm.yaml"))
}

// Start starts Redis, the CMP server, the repo server and the application controller, each once
// it answers, and returns when all four run. Stop ends them; on error Start stops what it started.
func Start(ctx context.Context, opts Options) (_ *ArgoCD, err error) {
	a := &ArgoCD{opts: opts}
	defer func() {
		if err != nil {
			a.Stop()
		}
	}()
	for _, d := range []string{"logs", "plugin", "cmp-work", "tmp", "tools"} {
		if err := os.MkdirAll(filepath.Join(opts.Dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	// Unix socket paths are limited to about 100 bytes: keep the socket folder short.
	sockDir, err := os.MkdirTemp("", "argocd-sock-")
	if err != nil {
		return nil, err
	}
	a.procs = append(a.procs, &process{name: "socket folder", done: closed(), log: sockDir})

	// The sidecar image: kustomize and the function on PATH, beside the shell tools the plugin uses.
	tools := filepath.Join(opts.Dir, "tools")
	for name, target := range map[string]string{
		"kustomize":             opts.Kustomize,
		"avs-executor-fn":       opts.Function,
		"argocd":                filepath.Join(opts.Bins, "argocd"), // GIT_ASKPASS of the repo server
		"git-verify-wrapper.sh": filepath.Join(opts.Bins, "git-verify-wrapper.sh"),
	} {
		link := filepath.Join(tools, name)
		_ = os.Remove(link)
		if err := os.Symlink(target, link); err != nil {
			return nil, err
		}
	}
	path := tools + string(os.PathListSeparator) + os.Getenv("PATH")
	if err := writePlugin(opts.Root, filepath.Join(opts.Dir, "plugin")); err != nil {
		return nil, err
	}

	redisPort, err := freePort()
	if err != nil {
		return nil, err
	}
	a.Redis = "127.0.0.1:" + strconv.Itoa(redisPort)
	if err := a.start(ctx, "redis", exec.Command("redis-server", "--port", strconv.Itoa(redisPort), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", filepath.Join(opts.Dir, "tmp")), nil, false,
		func() bool { return dial(a.Redis) }); err != nil {
		return nil, err
	}

	env := []string{
		"PATH=" + path,
		"TMPDIR=" + filepath.Join(opts.Dir, "tmp"),
		"ARGOCD_PLUGINSOCKFILEPATH=" + sockDir,
		"ARGOCD_GPG_ENABLED=false",
		"HOME=" + filepath.Join(opts.Dir, "tmp"),
		// The user's and the machine's Git configuration must not change what Argo CD sees.
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
	}
	cmp := exec.Command(filepath.Join(opts.Bins, "argocd-cmp-server"), "--config-dir-path", filepath.Join(opts.Dir, "plugin"), "--loglevel", "info")
	if err := a.start(ctx, "argocd-cmp-server", cmp, append(env, "ARGOCD_CMP_WORKDIR="+filepath.Join(opts.Dir, "cmp-work")), true,
		func() bool { _, err := os.Stat(filepath.Join(sockDir, PluginName+".sock")); return err == nil }); err != nil {
		return nil, err
	}

	repoPort, err := freePort()
	if err != nil {
		return nil, err
	}
	repoMetrics, err := freePort()
	if err != nil {
		return nil, err
	}
	a.RepoServer = "127.0.0.1:" + strconv.Itoa(repoPort)
	repo := exec.Command(filepath.Join(opts.Bins, "argocd-repo-server"),
		"--address", "127.0.0.1", "--port", strconv.Itoa(repoPort),
		"--metrics-address", "127.0.0.1", "--metrics-port", strconv.Itoa(repoMetrics),
		"--redis", a.Redis, "--disable-tls", "--client-ca-path=", "--loglevel", "info")
	if err := a.start(ctx, "argocd-repo-server", repo, append(env, "ARGOCD_ASK_PASS_SOCK="+filepath.Join(sockDir, "asksock")), false,
		func() bool { return dial(a.RepoServer) }); err != nil {
		return nil, err
	}

	ctrlMetrics, err := freePort()
	if err != nil {
		return nil, err
	}
	resync := opts.AppResync
	if resync == 0 {
		resync = 3 * time.Minute
	}
	ctrl := exec.Command(filepath.Join(opts.Bins, "argocd-application-controller"),
		"--kubeconfig", opts.Kubeconfig, "--namespace", Namespace,
		"--repo-server", a.RepoServer, "--repo-server-plaintext", "--redis", a.Redis,
		"--metrics-port", strconv.Itoa(ctrlMetrics), "--app-resync", strconv.Itoa(int(resync.Seconds())),
		"--loglevel", "info")
	healthz := fmt.Sprintf("http://127.0.0.1:%d/healthz", ctrlMetrics)
	// ARGOCD_FAKE_IN_CLUSTER makes https://kubernetes.default.svc the cluster of the kubeconfig.
	if err := a.start(ctx, "argocd-application-controller", ctrl, append(env, "ARGOCD_FAKE_IN_CLUSTER=true", "KUBECONFIG="+opts.Kubeconfig), false,
		func() bool {
			resp, err := http.Get(healthz)
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		}); err != nil {
		return nil, err
	}
	return a, nil
}

// start runs cmd with its output in logs/<name>.log, in a process group of its own (the repo and
// CMP servers run git, kustomize and the function), and waits until ready reports true.
func (a *ArgoCD) start(ctx context.Context, name string, cmd *exec.Cmd, env []string, kill bool, ready func() bool) error {
	logPath := filepath.Join(a.opts.Dir, "logs", name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	cmd.Dir = filepath.Join(a.opts.Dir, "tmp")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, done: make(chan struct{}), log: logPath, kill: kill}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	a.procs = append(a.procs, p)
	t0 := time.Now()
	for !ready() {
		select {
		case <-p.done:
			return fmt.Errorf("%s exited (%v); see %s", name, p.err, logPath)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Since(t0) > time.Minute {
			return fmt.Errorf("%s is not ready after a minute; see %s", name, logPath)
		}
	}
	fmt.Fprintf(a.opts.Out, "    %s ready in %.1fs (log %s)\n", name, time.Since(t0).Seconds(), logPath)
	return nil
}

// Stop ends every process Start started, the last started first. Safe to call twice.
func (a *ArgoCD) Stop() {
	for i := len(a.procs) - 1; i >= 0; i-- {
		p := a.procs[i]
		if p.cmd == nil { // the socket folder
			_ = os.RemoveAll(p.log)
			continue
		}
		pgid := -p.cmd.Process.Pid
		if p.kill {
			_ = syscall.Kill(pgid, syscall.SIGKILL)
		} else {
			_ = syscall.Kill(pgid, syscall.SIGTERM)
		}
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(pgid, syscall.SIGKILL)
			<-p.done
		}
		// What the group ran (git, kustomize) goes with it.
		_ = syscall.Kill(pgid, syscall.SIGKILL)
	}
	a.procs = nil
}

// Logs returns the log file of a component (redis, argocd-cmp-server, argocd-repo-server,
// argocd-application-controller).
func (a *ArgoCD) Logs(name string) string { return filepath.Join(a.opts.Dir, "logs", name+".log") }

// writePlugin writes the plugin.yaml of examples/argocd/cmp-plugin.yaml into dir, where the CMP
// server reads it (the sidecar mounts the ConfigMap's key the same way).
func writePlugin(root, dir string) error {
	src := filepath.Join(root, "examples", "argocd", "cmp-plugin.yaml")
	raw, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	var cm corev1.ConfigMap
	if err := yaml.UnmarshalStrict(raw, &cm); err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	plugin, ok := cm.Data["plugin.yaml"]
	if !ok {
		return fmt.Errorf("%s: no data key plugin.yaml", src)
	}
	return os.WriteFile(filepath.Join(dir, "plugin.yaml"), []byte(plugin), 0o644)
}

func kubectl(ctx context.Context, kubeconfig string, stdin io.Reader, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "kubectl", append([]string{"--kubeconfig", kubeconfig}, args...)...)
	cmd.Stdin = stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("kubectl %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// kubectlApply applies server-side: the Application CRD is too large for client-side apply.
func kubectlApply(ctx context.Context, kubeconfig string, stdin io.Reader, args ...string) error {
	_, err := kubectl(ctx, kubeconfig, stdin, append([]string{"apply", "--server-side", "--force-conflicts", "--field-manager=argocd-install"}, args...)...)
	return err
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func dial(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func closed() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}

// Package argocd runs the real Argo CD against a local cluster of hack/local-cluster.sh: Redis, the
// config management plugin (CMP) server with the plugin of examples/argocd, the repo server and the
// application controller, as local processes (KWOK pods run no containers). The components come
// from hack/argocd-bins.sh; the CRDs, argocd-cm and the rest of Argo CD's configuration are
// installed the way Argo CD's own manifests install them. The processes belong to the cluster's
// life (pid files in its pids/ folder), so they outlive the demo and hack/local-cluster.sh down
// stops them.
package argocd

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/hourglass-gitops/hourglass-gitops/test/framework/cluster"
)

// Namespace is where Argo CD and its Applications live.
const Namespace = "argocd"

// PluginName is the name of the plugin in examples/argocd/cmp-plugin.yaml.
const PluginName = "hourglass-kustomize"

// ExecutorApplication is the Application of examples/argocd/application.yaml that renders an
// executor declaration through the plugin.
const ExecutorApplication = "my-avs-executor"

// Application is the kind Argo CD syncs.
var Application = schema.GroupVersionKind{Group: "argoproj.io", Version: "v1alpha1", Kind: "Application"}

// The components' names: their log files (<name>.log) and pid files.
const (
	Redis                 = "redis"
	CMPServer             = "argocd-cmp-server"
	RepoServer            = "argocd-repo-server"
	ApplicationController = "argocd-application-controller"
)

// Options says where Argo CD runs and what it renders with.
type Options struct {
	// Root is the repository root (examples/argocd is read from there).
	Root string
	// Bins is the folder of hack/argocd-bins.sh.
	Bins string
	// Dir is Argo CD's state folder: logs/, the plugin's configuration, work folders.
	Dir string
	// Kustomize and Function are the plugin's tools (what the sidecar image carries).
	Kustomize, Function string
	// AppResync is how often Argo CD re-reads Git without a webhook: the application controller's
	// resync, without jitter, and the repo server's cache of what a branch points at (both of
	// which timeout.reconciliation of argocd-cm sets on a real install). When zero the
	// controller resyncs every 3 minutes, with Argo CD's defaults otherwise.
	AppResync time.Duration
	// Out receives progress output.
	Out io.Writer
}

// ArgoCD is a running Argo CD.
type ArgoCD struct {
	opts Options
	mu   sync.Mutex
	proc []*cluster.Process
	// RepoServer is the repo server's gRPC address.
	RepoServer string
	// Redis is Redis's address.
	Redis string
}

// Start installs Argo CD's CRDs and configuration (see install) and starts Redis, the CMP server,
// the repo server and the application controller; it returns when all four serve. The install
// and the servers' start-up overlap; the application controller starts once both are done. On
// error Start stops what it started.
func Start(ctx context.Context, c *cluster.Cluster, opts Options) (_ *ArgoCD, err error) {
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	a := &ArgoCD{opts: opts}
	defer func() {
		if err != nil {
			a.Stop()
		}
	}()
	l, err := a.prepare()
	if err != nil {
		return nil, err
	}
	installed := make(chan error, 1)
	go func() { installed <- install(ctx, c, opts) }()
	if err := errors.Join(a.startServers(ctx, c, l), <-installed); err != nil {
		return nil, err
	}
	if err := a.startController(ctx, c, l); err != nil {
		return nil, err
	}
	return a, nil
}

// launch is what the components share: their ports, the plugin socket folder and the
// environment.
type launch struct {
	sockDir                          string
	redisPort, repoPort, repoMetrics int
	ctrlMetrics                      int
	tmp                              string
	env, resyncEnv                   []string
	resync                           time.Duration
}

// prepare lays out the folders, the tools the sidecar has on PATH and the plugin's
// configuration, and picks the ports and the environment of the components.
func (a *ArgoCD) prepare() (*launch, error) {
	opts := a.opts
	for _, d := range []string{"logs", "plugin", "cmp-work", "tmp", "tools"} {
		if err := os.MkdirAll(filepath.Join(opts.Dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	sockDir, err := socketDir(opts.Dir)
	if err != nil {
		return nil, err
	}
	// The sidecar image: the function and the kustomize it renders with on PATH.
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
	if err := writePlugin(opts.Root, filepath.Join(opts.Dir, "plugin")); err != nil {
		return nil, err
	}
	ports, err := cluster.FreePorts(4)
	if err != nil {
		return nil, err
	}
	l := &launch{sockDir: sockDir, redisPort: ports[0], repoPort: ports[1], repoMetrics: ports[2], ctrlMetrics: ports[3],
		tmp: filepath.Join(opts.Dir, "tmp"), resync: 3 * time.Minute}
	a.Redis = "127.0.0.1:" + strconv.Itoa(l.redisPort)
	a.RepoServer = "127.0.0.1:" + strconv.Itoa(l.repoPort)
	l.env = []string{
		"PATH=" + tools + string(os.PathListSeparator) + os.Getenv("PATH"),
		"TMPDIR=" + l.tmp,
		"HOME=" + l.tmp,
		"ARGOCD_PLUGINSOCKFILEPATH=" + sockDir,
		"ARGOCD_GPG_ENABLED=false",
		// The user's and the machine's Git configuration must not change what Argo CD sees.
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
	}
	if opts.AppResync > 0 {
		l.resync = opts.AppResync
		l.resyncEnv = []string{"ARGOCD_RECONCILIATION_TIMEOUT=" + l.resync.String(), "ARGOCD_RECONCILIATION_JITTER=0"}
	}
	return l, nil
}

// startServers starts Redis, then the CMP server and the repo server side by side.
func (a *ArgoCD) startServers(ctx context.Context, c *cluster.Cluster, l *launch) error {
	opts := a.opts
	if err := a.start(ctx, c, cluster.Command{Name: Redis, Path: "redis-server",
		Args:  []string{"--port", strconv.Itoa(l.redisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", l.tmp},
		Ready: func() bool { return dial(a.Redis) }, Waiting: a.Redis}); err != nil {
		return err
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Add(2)
	go func() {
		defer wg.Done()
		sock := filepath.Join(l.sockDir, PluginName+".sock")
		_ = os.Remove(sock) // left by a CMP server that was killed
		// The CMP server only removes its socket on the first SIGTERM, and hack/local-cluster.sh
		// down sends one, then waits 10 seconds before SIGKILL: a shell in front of it turns the
		// SIGTERM into a SIGKILL.
		errs[0] = a.start(ctx, c, cluster.Command{Name: CMPServer, Path: "/bin/sh",
			Args: []string{"-c", `trap 'kill -KILL $pid' TERM INT; "$0" "$@" & pid=$!; wait $pid`,
				filepath.Join(opts.Bins, CMPServer), "--config-dir-path", filepath.Join(opts.Dir, "plugin"), "--loglevel", "info"},
			Env:   append(slices.Clip(l.env), "ARGOCD_CMP_WORKDIR="+filepath.Join(opts.Dir, "cmp-work")),
			Ready: func() bool { _, err := os.Stat(sock); return err == nil }, Waiting: sock})
	}()
	go func() {
		defer wg.Done()
		errs[1] = a.start(ctx, c, cluster.Command{Name: RepoServer, Path: filepath.Join(opts.Bins, RepoServer),
			Args: []string{"--address", "127.0.0.1", "--port", strconv.Itoa(l.repoPort),
				"--metrics-address", "127.0.0.1", "--metrics-port", strconv.Itoa(l.repoMetrics),
				"--redis", a.Redis, "--disable-tls", "--client-ca-path=", "--loglevel", "info"},
			Env:   append(append(slices.Clip(l.env), l.resyncEnv...), "ARGOCD_ASK_PASS_SOCK="+filepath.Join(l.sockDir, "asksock")),
			Ready: func() bool { return dial(a.RepoServer) }, Waiting: a.RepoServer})
	}()
	wg.Wait()
	return errors.Join(errs...)
}

// startController starts the application controller against the cluster, the repo server and
// Redis.
func (a *ArgoCD) startController(ctx context.Context, c *cluster.Cluster, l *launch) error {
	healthz := fmt.Sprintf("http://127.0.0.1:%d/healthz", l.ctrlMetrics)
	return a.start(ctx, c, cluster.Command{Name: ApplicationController, Path: filepath.Join(a.opts.Bins, ApplicationController),
		Args: []string{"--kubeconfig", c.Kubeconfig, "--namespace", Namespace,
			"--repo-server", a.RepoServer, "--repo-server-plaintext", "--redis", a.Redis,
			"--metrics-port", strconv.Itoa(l.ctrlMetrics), "--app-resync", strconv.Itoa(int(l.resync.Seconds())),
			"--loglevel", "info"},
		// ARGOCD_FAKE_IN_CLUSTER makes https://kubernetes.default.svc the cluster of the kubeconfig.
		Env:   append(append(slices.Clip(l.env), l.resyncEnv...), "ARGOCD_FAKE_IN_CLUSTER=true", "KUBECONFIG="+c.Kubeconfig),
		Ready: func() bool { return cluster.HTTPReady(healthz) }, Waiting: healthz})
}

// start runs one component as a process of the cluster, in tmp/, logging to logs/<name>.log.
func (a *ArgoCD) start(ctx context.Context, c *cluster.Cluster, cmd cluster.Command) error {
	cmd.Dir = filepath.Join(a.opts.Dir, "tmp")
	cmd.Log = a.Logs(cmd.Name)
	t0 := time.Now()
	p, err := c.StartCommand(ctx, cmd)
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.proc = append(a.proc, p)
	a.mu.Unlock()
	fmt.Fprintf(a.opts.Out, "    %s ready in %.1fs (log %s)\n", cmd.Name, time.Since(t0).Seconds(), cmd.Log)
	return nil
}

// Stop ends every process Start started, the last started first. Safe to call twice.
func (a *ArgoCD) Stop() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := len(a.proc) - 1; i >= 0; i-- {
		a.proc[i].Stop()
	}
	a.proc = nil
}

// Logs returns the log file of a component (Redis, CMPServer, RepoServer, ApplicationController).
func (a *ArgoCD) Logs(name string) string { return filepath.Join(a.opts.Dir, "logs", name+".log") }

// install applies Argo CD's CRDs and configuration: the Application and AppProject CRDs of the
// built version, argocd-cm from examples/argocd as shipped (the Performer health check), empty
// argocd-rbac-cm and argocd-cmd-params-cm, argocd-secret with a server key, and the default
// AppProject (which argocd-server creates on a real install).
func install(ctx context.Context, c *cluster.Cluster, opts Options) error {
	if err := kubectlApply(ctx, c, nil, "-f", filepath.Join(opts.Bins, "crds")); err != nil {
		return err
	}
	if err := established(ctx, c, "applications.argoproj.io", "appprojects.argoproj.io"); err != nil {
		return err
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
	if err := kubectlApply(ctx, c, strings.NewReader(config), "-f", "-"); err != nil {
		return err
	}
	return kubectlApply(ctx, c, nil, "-f", filepath.Join(opts.Root, "examples", "argocd", "argocd-cm.yaml"))
}

// established waits until the CRDs are Established (`kubectl wait` fails at once while a new CRD
// has no conditions yet).
func established(ctx context.Context, c *cluster.Cluster, names ...string) error {
	cl, err := client.New(c.Config, client.Options{})
	if err != nil {
		return err
	}
	for _, name := range names {
		var last string
		err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			crd := &unstructured.Unstructured{}
			crd.SetGroupVersionKind(schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"})
			if err := cl.Get(ctx, types.NamespacedName{Name: name}, crd); err != nil {
				last = err.Error()
				return false, nil
			}
			conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
			for _, c := range conds {
				if m, _ := c.(map[string]any); m["type"] == "Established" {
					last = fmt.Sprintf("Established=%v: %v", m["status"], m["message"])
					return m["status"] == "True", nil
				}
			}
			last = "no Established condition yet"
			return false, nil
		})
		if err != nil {
			return fmt.Errorf("CRD %s is not Established (%s): %w", name, last, err)
		}
	}
	return nil
}

// LoadExecutorApplication returns the executor Application of examples/argocd/application.yaml with
// only its source's repoURL and path changed (path unchanged when empty).
func LoadExecutorApplication(root, repoURL, path string) (*unstructured.Unstructured, error) {
	file := filepath.Join(root, "examples", "argocd", "application.yaml")
	objs, err := cluster.ReadObjectsFile(file)
	if err != nil {
		return nil, err
	}
	var app *unstructured.Unstructured
	for _, o := range objs {
		if o.GroupVersionKind() == Application && o.GetName() == ExecutorApplication {
			app = o
		}
	}
	if app == nil {
		return nil, fmt.Errorf("%s has no Application %s", file, ExecutorApplication)
	}
	if name, _, _ := unstructured.NestedString(app.Object, "spec", "source", "plugin", "name"); name != PluginName {
		return nil, fmt.Errorf("%s: Application %s: spec.source.plugin.name is %q, want %q", file, ExecutorApplication, name, PluginName)
	}
	set := map[string]string{"repoURL": repoURL}
	if path != "" {
		set["path"] = path
	}
	for field, value := range set {
		if err := unstructured.SetNestedField(app.Object, value, "spec", "source", field); err != nil {
			return nil, err
		}
	}
	return app, nil
}

// Status is what an Application reports, as `kubectl get applications` and `argocd app get` show
// it.
type Status struct {
	Namespace, Name string
	// Sync is status.sync.status (Synced, OutOfSync, Unknown) at Revision (a commit hash).
	Sync, Revision string
	// Health is status.health.status (Healthy, Progressing, Degraded, Suspended, Missing, Unknown).
	Health, HealthMessage string
	// OperationPhase and OperationMessage are the last sync operation's (status.operationState).
	OperationPhase, OperationMessage string
	// Conditions are the Application's conditions ("Type: message"), e.g. a ComparisonError.
	Conditions []string
}

// Converged reports Synced and Healthy with the last sync operation Succeeded.
func (s Status) Converged() bool {
	return s.Sync == "Synced" && s.Health == "Healthy" && s.OperationPhase == "Succeeded"
}

// String shows the Application's sync and health, and the revision it synced.
func (s Status) String() string {
	out := fmt.Sprintf("Application %s/%s: %s, %s", s.Namespace, s.Name, or(s.Sync, "no sync status"), or(s.Health, "no health"))
	if s.HealthMessage != "" {
		out += " (" + s.HealthMessage + ")"
	}
	if s.Revision != "" {
		out += " at " + s.Revision
	}
	if s.OperationPhase != "" {
		out += fmt.Sprintf("; last sync %s: %s", s.OperationPhase, s.OperationMessage)
	}
	for _, c := range s.Conditions {
		out += "; " + c
	}
	return out
}

// or is s, or otherwise when s is empty.
func or(s, otherwise string) string {
	if s == "" {
		return otherwise
	}
	return s
}

// Get reads the status of the Application name in Namespace.
func Get(ctx context.Context, cl client.Client, name string) (Status, error) {
	s := Status{Namespace: Namespace, Name: name}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(Application)
	if err := cl.Get(ctx, types.NamespacedName{Namespace: Namespace, Name: name}, u); err != nil {
		return s, err
	}
	str := func(fields ...string) string { v, _, _ := unstructured.NestedString(u.Object, fields...); return v }
	s.Sync, s.Revision = str("status", "sync", "status"), str("status", "sync", "revision")
	s.Health, s.HealthMessage = str("status", "health", "status"), str("status", "health", "message")
	s.OperationPhase, s.OperationMessage = str("status", "operationState", "phase"), str("status", "operationState", "message")
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		s.Conditions = append(s.Conditions, fmt.Sprintf("%v: %v", m["type"], m["message"]))
	}
	return s, nil
}

// WaitFor polls the Application name until done accepts its status, and returns that status; on
// timeout the error carries the last status seen.
func WaitFor(ctx context.Context, cl client.Client, name string, timeout time.Duration, done func(Status) bool) (Status, error) {
	var last Status
	var lastErr error
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		last, lastErr = Get(ctx, cl, name)
		return lastErr == nil && done(last), nil
	})
	if err != nil {
		if lastErr != nil {
			return last, fmt.Errorf("Application %s/%s: %v (last error: %v)", Namespace, name, err, lastErr)
		}
		return last, fmt.Errorf("%v after %s; last seen: %s", err, timeout, last)
	}
	return last, nil
}

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

// socketDir is where the CMP server and the repo server put their Unix sockets: in the state
// folder, unless its path is too long for a socket (about 100 bytes), then in a folder of the
// system's temporary folder named after the state folder.
func socketDir(stateDir string) (string, error) {
	dir := filepath.Join(stateDir, "sock")
	if len(filepath.Join(dir, PluginName+".sock")) > 100 {
		sum := sha256.Sum256([]byte(stateDir))
		dir = filepath.Join(os.TempDir(), "argocd-sock-"+hex.EncodeToString(sum[:6]))
	}
	return dir, os.MkdirAll(dir, 0o700)
}

// kubectlApply applies server-side: the Application CRD is too large for client-side apply.
func kubectlApply(ctx context.Context, c *cluster.Cluster, stdin io.Reader, args ...string) error {
	args = append([]string{"--kubeconfig", c.Kubeconfig, "apply", "--server-side", "--force-conflicts", "--field-manager=argocd-install"}, args...)
	cmd := exec.CommandContext(ctx, "kubectl", args...)
	cmd.Stdin = stdin
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("kubectl %s: %w\n%s", strings.Join(args[2:], " "), err, stderr.String())
	}
	return nil
}

// dial reports whether something listens on TCP address addr.
func dial(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

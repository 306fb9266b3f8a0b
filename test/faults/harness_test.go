// Package faults breaks things under the controller on a local control plane of its own
// (hack/local-cluster.sh: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, KWOK
// nodes) and checks that it recovers by itself: kill -9 in the middle of a burst, an API server and
// an etcd crash in the middle of a rollout, a leader killed under leader election, and drift.
// Each test prints the figures it measured.
//
// The controller runs as local processes authenticated as the hourglass-operator ServiceAccount
// of base/ (so with exactly the RBAC base/ grants), with leader election as base/ runs it; each
// test watches its own namespace and uses its own Lease, so the tests do not share a controller.
// The control-plane crash test runs alone first; the others then run side by side.
//
// It runs only with HOURGLASS_E2E=1 (make test-faults). HOURGLASS_FAULTS_CLUSTER_DIR sets the
// cluster's state folder (default .local/faults-cluster); the cluster is stopped at the end
// (HOURGLASS_FAULTS_KEEP=1 leaves it running, to look around) and its logs, and every
// controller's log, stay there.
package faults

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/hourglass-gitops/hourglass-gitops/api/v1alpha1"
	"github.com/hourglass-gitops/hourglass-gitops/test/e2erun"
	"github.com/hourglass-gitops/hourglass-gitops/test/framework/cluster"
	"github.com/hourglass-gitops/hourglass-gitops/test/framework/process"
	"github.com/hourglass-gitops/hourglass-gitops/test/framework/repo"
)

// The clients log through controller-runtime and klog; errors reach the tests as returned errors.
func init() {
	ctrllog.SetLogger(logr.Discard())
	klog.SetLogger(logr.Discard())
}

// suite is the cluster the tests share, set up by TestMain when HOURGLASS_E2E=1.
var suite struct {
	root       string
	cluster    *cluster.Cluster
	cl         client.Client
	cs         kubernetes.Interface
	bin        string // the controller binary
	kubeconfig string // the hourglass-operator ServiceAccount's kubeconfig
}

func TestMain(m *testing.M) {
	if os.Getenv("HOURGLASS_E2E") != "1" {
		os.Exit(m.Run()) // every test skips
	}
	if err := setup(); err != nil {
		fmt.Fprintf(os.Stderr, "faults: %v\n", err)
		os.Exit(1)
	}
	code := m.Run()
	if os.Getenv("HOURGLASS_FAULTS_KEEP") == "1" {
		fmt.Fprintf(os.Stderr, "faults: cluster left running (HOURGLASS_FAULTS_KEEP=1): export KUBECONFIG=%s\n", suite.cluster.Kubeconfig)
		os.Exit(code)
	}
	if err := suite.cluster.Down(); err != nil {
		fmt.Fprintf(os.Stderr, "faults: stopping the cluster: %v\n", err)
	}
	os.Exit(code)
}

func gate(t *testing.T) {
	t.Helper()
	e2erun.Gate(t, "fault test", "test-faults")
}

func setup() error {
	if _, err := exec.LookPath("kubectl"); err != nil {
		return fmt.Errorf("kubectl is not on PATH: hack/local-cluster.sh needs it (install kubectl, e.g. /usr/bin/kubectl)")
	}
	root, err := repo.Root()
	if err != nil {
		return err
	}
	dir := os.Getenv("HOURGLASS_FAULTS_CLUSTER_DIR")
	if dir == "" {
		dir = filepath.Join(root, ".local", "faults-cluster")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	t0 := time.Now()
	// A fresh cluster every time: stop whatever an interrupted run left in dir.
	if err := cluster.Down(root, dir, os.Stderr); err != nil {
		return err
	}
	c, err := cluster.Up(ctx, root, dir, os.Stderr)
	if err != nil {
		return err
	}
	suite.root, suite.cluster = root, c
	fail := func(err error) error { _ = c.Down(); return err }
	if err := c.InstallController(ctx); err != nil {
		return fail(err)
	}
	if suite.cl, err = newClient(c.Config); err != nil {
		return fail(err)
	}
	if suite.cs, err = kubernetes.NewForConfig(c.Config); err != nil {
		return fail(err)
	}
	if err := addNodes(ctx); err != nil {
		return fail(err)
	}
	suite.bin = filepath.Join(dir, "bin", "hourglass-controller")
	if err := process.GoBuild(ctx, "./controller", suite.bin); err != nil {
		return fail(err)
	}
	if suite.kubeconfig, err = serviceAccountKubeconfig(ctx, dir); err != nil {
		return fail(err)
	}
	fmt.Fprintf(os.Stderr, "faults: cluster, base/ and the controller binary ready in %.1fs\n", time.Since(t0).Seconds())
	return nil
}

func newClient(cfg *rest.Config) (client.Client, error) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = 300, 600 // the tests create hundreds of objects at once
	return client.New(cfg, client.Options{Scheme: scheme})
}

// addNodes adds two general-purpose KWOK nodes: the cluster's untainted nodes hold 440 pods, the
// burst needs 500 besides the other tests' pods.
func addNodes(ctx context.Context) error {
	for i := 1; i <= 2; i++ {
		res := corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("64"), corev1.ResourceMemory: resource.MustParse("256Gi"),
			corev1.ResourcePods: resource.MustParse("300"),
		}
		name := fmt.Sprintf("faults-%d", i)
		n := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: name,
				Annotations: map[string]string{"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
				Labels: map[string]string{"type": "kwok", "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
					"kubernetes.io/hostname": name, "node.kubernetes.io/pool": "general"}},
			Status: corev1.NodeStatus{Capacity: res, Allocatable: res,
				NodeInfo: corev1.NodeSystemInfo{OperatingSystem: "linux", Architecture: "amd64", OSImage: "Ubuntu 24.04.2 LTS"}},
		}
		if err := suite.cl.Create(ctx, n); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating node %s: %w", name, err)
		}
	}
	return nil
}

// serviceAccountKubeconfig writes a kubeconfig with a token of the hourglass-operator
// ServiceAccount, so the controller holds exactly the permissions base/ grants.
func serviceAccountKubeconfig(ctx context.Context, dir string) (string, error) {
	expiry := int64((2 * time.Hour).Seconds())
	tr, err := suite.cs.CoreV1().ServiceAccounts(cluster.ControllerNamespace).CreateToken(ctx, cluster.ControllerServiceAccount,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &expiry}}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("requesting a token for the controller's ServiceAccount: %w", err)
	}
	admin, err := clientcmd.LoadFromFile(suite.cluster.Kubeconfig)
	if err != nil {
		return "", err
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["local"] = admin.Clusters[admin.Contexts[admin.CurrentContext].Cluster]
	cfg.AuthInfos["controller"] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	cfg.Contexts["controller"] = &clientcmdapi.Context{Cluster: "local", AuthInfo: "controller"}
	cfg.CurrentContext = "controller"
	path := filepath.Join(dir, "faults-controller.kubeconfig")
	return path, clientcmd.WriteToFile(*cfg, path)
}

// --- controller processes ------------------------------------------------------------------

// controller is one controller process (a "replica"), optionally restarted when it exits the way
// the kubelet restarts a container (restartPolicy Always).
type controller struct {
	t         *testing.T
	name      string
	args      []string
	supervise bool

	mu       sync.Mutex
	cmd      *exec.Cmd
	done     chan struct{}
	stopping bool
	restarts int // restarts after the process exited by itself
	starts   int
}

// startController starts a controller replica that reconciles namespace, electing a leader on the
// Lease named lease in hourglass-system, as base/ runs it, allowing undeclared Performers.
func startController(t *testing.T, name, namespace, lease string, supervise bool) *controller {
	t.Helper()
	c := &controller{t: t, name: name, supervise: supervise, args: []string{
		"--kubeconfig=" + suite.kubeconfig,
		"--metrics-bind-address=0",
		"--leader-elect",
		"--leader-election-id=" + lease,
		"--leader-election-namespace=" + cluster.ControllerNamespace,
		"--watch-namespaces=" + namespace,
		"--zap-log-level=info",
		// The tests are about faults, not about declarations: their Performers are not declared
		// in Git and get workloads of their own.
		"--allow-undeclared-performers",
	}}
	if err := c.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.stop)
	return c
}

func (c *controller) logPath() string {
	return filepath.Join(suite.cluster.Dir, "logs", "faults-"+c.name+".log")
}

func (c *controller) pidPath() string {
	return filepath.Join(suite.cluster.Dir, "pids", "faults-"+c.name+".pid")
}

func (c *controller) start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	probe, err := freePort()
	if err != nil {
		return err
	}
	logFile, err := os.OpenFile(c.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	c.starts++
	fmt.Fprintf(logFile, "==== start %d of controller %s at %s\n", c.starts, c.name, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(suite.bin, append(c.args, "--health-probe-bind-address=127.0.0.1:"+strconv.Itoa(probe))...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("starting controller %s: %w", c.name, err)
	}
	logFile.Close()
	// hack/local-cluster.sh down stops it too if the test is interrupted.
	_ = os.WriteFile(c.pidPath(), []byte(fmt.Sprintf("%d %s\n", cmd.Process.Pid, suite.bin)), 0o644)
	done := make(chan struct{})
	c.cmd, c.done = cmd, done
	go func() {
		_ = cmd.Wait()
		close(done)
		c.mu.Lock()
		again := c.supervise && !c.stopping && c.cmd == cmd
		if again {
			c.restarts++
		}
		c.mu.Unlock()
		if again {
			if err := c.start(); err != nil {
				c.t.Errorf("restarting controller %s: %v", c.name, err)
			}
		}
	}()
	// /readyz answers once the manager runs (leader or not).
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return nil // the supervisor (if any) takes over; a test waiting for work notices
		case <-time.After(100 * time.Millisecond):
		}
		if resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", probe)); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	return fmt.Errorf("controller %s not ready after 30s (log %s)", c.name, c.logPath())
}

// kill9 kills the process with SIGKILL (no lease release, no cleanup) and waits for it to be gone.
func (c *controller) kill9() {
	c.mu.Lock()
	cmd, done := c.cmd, c.done
	c.stopping = true
	c.mu.Unlock()
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done
	c.mu.Lock()
	c.stopping = false
	c.cmd = nil
	c.mu.Unlock()
}

// stop stops the process with SIGTERM, as a pod deletion does.
func (c *controller) stop() {
	c.mu.Lock()
	cmd, done := c.cmd, c.done
	c.stopping = true
	c.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
	_ = os.Remove(c.pidPath())
}

// isLeader: the process logged that it acquired the Lease (client-go's leaderelection, through
// controller-runtime's logger) in its current run.
func (c *controller) isLeader() bool {
	raw, err := os.ReadFile(c.logPath())
	if err != nil {
		return false
	}
	runs := strings.Split(string(raw), "==== start ")
	return strings.Contains(strings.ToLower(runs[len(runs)-1]), "successfully acquired lease")
}

func (c *controller) restartCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.restarts
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

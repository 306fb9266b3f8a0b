// Package cluster drives the local control plane of hack/local-cluster.sh for the demo and the
// end-to-end tests: it starts and stops the cluster and the local processes that belong to it,
// runs the controller as the hourglass-operator ServiceAccount, builds the KRM function and
// renders the examples with the kustomize CLI.
//
// KWOK pods run no containers, so the in-cluster controller Deployment (installed by Flux) only
// proves itself valid and schedulable under the restricted Pod Security Standard, and the
// controller runs as a local process. That process authenticates with a TokenRequest token of the
// hourglass-operator ServiceAccount, so it holds exactly the permissions the install grants; the
// in-cluster pods never take the leader lease, since nothing runs in them.
package cluster

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// The controller as base/ installs it.
const (
	ControllerNamespace      = "hourglass-system"
	ControllerServiceAccount = "hourglass-operator"
	ControllerDeployment     = "hourglass-operator"
	leaderElectionID         = "hourglass-operator"
)

// Cluster is a running local control plane.
type Cluster struct {
	// Root is the repository root.
	Root string
	// Dir is the state folder (HOURGLASS_CLUSTER_DIR of hack/local-cluster.sh).
	Dir string
	// Kubeconfig is the admin kubeconfig file.
	Kubeconfig string
	// Config reaches the API server as a cluster admin.
	Config *rest.Config
	// Out receives progress output of the scripts and tools run.
	Out io.Writer
	// ControllerBuilt says BuildController has built the controller already.
	ControllerBuilt bool

	controller *Process
}

// Up starts (or reuses) the cluster whose state lives in dir.
func Up(ctx context.Context, root, dir string, out io.Writer) (*Cluster, error) {
	return UpWith(ctx, root, dir, out, Options{})
}

// Options choose what Up starts beside the control plane and the KWOK nodes.
type Options struct {
	// RealNode adds a real node (kubelet, containerd, kube-proxy, CoreDNS; see
	// docs/real-node.md). It needs root.
	RealNode bool
}

// RealNodeName is the real node's name (HOURGLASS_NODE_NAME of hack/local-cluster.sh).
const RealNodeName = "real-node-1"

// RealNodeTaint keeps pods off the real node unless they tolerate it.
const RealNodeTaint = "hourglass.dev/real-node"

// RealNodeStorageClass provides the real node's local PersistentVolumes.
const RealNodeStorageClass = "real-node-local"

// UpWith starts (or reuses) the cluster whose state lives in dir, with what opts add.
func UpWith(ctx context.Context, root, dir string, out io.Writer, opts Options) (*Cluster, error) {
	c := &Cluster{Root: root, Dir: dir, Kubeconfig: filepath.Join(dir, "kubeconfig"), Out: out}
	args := []string{"up"}
	if opts.RealNode {
		args = append(args, "--real-node")
	}
	if err := c.script(ctx, args...); err != nil {
		return nil, err
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", c.Kubeconfig, err)
	}
	cfg.QPS, cfg.Burst = 100, 200
	c.Config = cfg
	return c, nil
}

// Down stops the controller started by StartController and the cluster. Safe to call twice.
func (c *Cluster) Down() error {
	c.StopController()
	return Down(c.Root, c.Dir, c.Out)
}

// Down stops whatever runs of the cluster whose state lives in dir, even when Up failed half-way.
func Down(root, dir string, out io.Writer) error {
	return script(context.Background(), root, dir, out, "down")
}

func (c *Cluster) script(ctx context.Context, args ...string) error {
	return script(ctx, c.Root, c.Dir, c.Out, args...)
}

func script(ctx context.Context, root, dir string, out io.Writer, args ...string) error {
	cmd := exec.CommandContext(ctx, filepath.Join(root, "hack", "local-cluster.sh"), args...)
	cmd.Env = append(os.Environ(), "HOURGLASS_CLUSTER_DIR="+dir)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("hack/local-cluster.sh %s: %w (logs in %s)", strings.Join(args, " "), err, filepath.Join(dir, "logs"))
	}
	return nil
}

// LoadImage imports an OCI image layout (a folder, or a tar of one) into the real node's
// containerd, under the name its index's io.containerd.image.name annotation gives.
func (c *Cluster) LoadImage(ctx context.Context, layout string) error {
	return c.script(ctx, "load-image", layout)
}

// Kubectl runs kubectl against the cluster as admin and returns its standard output; the error
// carries the standard error.
func (c *Cluster) Kubectl(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "kubectl", append([]string{"--kubeconfig", c.Kubeconfig}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String(), fmt.Errorf("kubectl %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// Kustomize returns the pinned kustomize CLI, installing it on first use.
func Kustomize(ctx context.Context, root string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(root, "hack", "tools.sh"), "kustomize")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("installing the kustomize CLI (hack/tools.sh kustomize): %w\n%s", err, stderr.String())
	}
	return strings.TrimSpace(string(out)), nil
}

// Build runs `kustomize build` on dir, with exec KRM functions enabled when fn is true.
func Build(ctx context.Context, root, dir string, fn bool) ([]byte, error) {
	kustomize, err := Kustomize(ctx, root)
	if err != nil {
		return nil, err
	}
	args := []string{"build"}
	if fn {
		args = append(args, "--enable-alpha-plugins", "--enable-exec")
	}
	cmd := exec.CommandContext(ctx, kustomize, append(args, dir)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("kustomize %s %s: %w\n%s", strings.Join(args, " "), dir, err, stderr.String())
	}
	return out, nil
}

// InstallController applies base/ with server-side apply, waits until the Performer CRD is
// served, and scales the controller Deployment to zero: a KWOK pod runs nothing, StartController
// runs the controller. For tests that are not about how the operator gets installed; the Flux
// test installs it through Flux.
func (c *Cluster) InstallController(ctx context.Context) error {
	rendered, err := Build(ctx, c.Root, filepath.Join(c.Root, "base"), false)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp("", "hourglass-base-*.yaml")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(rendered); err != nil {
		f.Close()
		return err
	}
	f.Close()
	if _, err := c.Kubectl(ctx, "apply", "--server-side", "--field-manager=kustomize-controller", "-f", f.Name()); err != nil {
		return err
	}
	if _, err := c.Kubectl(ctx, "wait", "--for=condition=Established", "--timeout=60s", "crd/performers.hourglass.eigenlayer.io"); err != nil {
		return err
	}
	if _, err := c.Kubectl(ctx, "-n", ControllerNamespace, "scale", "deployment/"+ControllerDeployment, "--replicas=0"); err != nil {
		return fmt.Errorf("scaling the in-cluster controller Deployment to zero: %w", err)
	}
	return nil
}

// StartController builds the controller and runs it as a local process authenticated as the
// hourglass-operator ServiceAccount, with leader election in hourglass-system as in base/. The
// ServiceAccount must exist (the operator's install creates it). It returns once /readyz answers.
// Its log is logs/hourglass-controller.log in the state folder; hack/local-cluster.sh down stops
// it too (pids/hourglass-controller.pid).
func (c *Cluster) StartController(ctx context.Context) error {
	bin := ControllerBinary(c.Dir)
	if !c.ControllerBuilt {
		if err := BuildController(ctx, c.Root, c.Dir, c.Out); err != nil {
			return err
		}
	}
	kubeconfig, err := c.serviceAccountKubeconfig(ctx)
	if err != nil {
		return err
	}
	ports, err := FreePorts(2)
	if err != nil {
		return err
	}
	metrics, probes := ports[0], ports[1]
	c.controller, err = c.Start(ctx, "hourglass-controller", bin, []string{
		"--kubeconfig=" + kubeconfig,
		"--metrics-bind-address=127.0.0.1:" + strconv.Itoa(metrics),
		"--health-probe-bind-address=127.0.0.1:" + strconv.Itoa(probes),
		"--leader-elect",
		"--leader-election-id=" + leaderElectionID,
		"--leader-election-namespace=" + ControllerNamespace,
		"--zap-log-level=info",
	}, nil, fmt.Sprintf("http://127.0.0.1:%d/readyz", probes))
	return err
}

// ControllerBinary is where BuildController puts the controller for the state folder dir.
func ControllerBinary(dir string) string { return filepath.Join(dir, "bin", "hourglass-controller") }

// BuildController builds the controller to ControllerBinary(dir). StartController does it unless
// the Cluster's ControllerBuilt is set, so that a caller can build it while the cluster starts.
func BuildController(ctx context.Context, root, dir string, out io.Writer) error {
	build := exec.CommandContext(ctx, "go", "build", "-o", ControllerBinary(dir), "./controller")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOTOOLCHAIN=local", "GOFLAGS=-buildvcs=false")
	build.Stdout, build.Stderr = out, out
	if err := build.Run(); err != nil {
		return fmt.Errorf("building the controller: %w", err)
	}
	return nil
}

// StopController stops the controller process started by this Cluster, if any.
func (c *Cluster) StopController() {
	c.controller.Stop()
	c.controller = nil
}

// Process is a local process that belongs to the cluster's life: its log is logs/<name>.log and
// its pid file pids/<name>.pid in the state folder, so hack/local-cluster.sh down stops it too.
type Process struct {
	Name    string
	Log     string
	cmd     *exec.Cmd
	pidFile string
	done    chan struct{} // closed when the process has exited
	err     error
}

// Start runs bin with args (and env added to this process's environment) in its own session, so
// it keeps running after the demo exits, like the cluster. A process of the same name left by an
// earlier run makes way first. Start returns once readyURL answers 200 OK, or at once when
// readyURL is empty.
func (c *Cluster) Start(ctx context.Context, name, bin string, args, env []string, readyURL string) (*Process, error) {
	cmd := Command{Name: name, Path: bin, Args: args, Env: env}
	if readyURL != "" {
		cmd.Ready = func() bool { return HTTPReady(readyURL) }
		cmd.Waiting = readyURL
	}
	return c.StartCommand(ctx, cmd)
}

// Command is a process that belongs to the cluster's life, for StartCommand.
type Command struct {
	Name, Path string
	Args       []string
	// Env is added to this process's environment.
	Env []string
	// Dir is the working directory ("" for this process's).
	Dir string
	// Log is the log file (default logs/<Name>.log in the state folder).
	Log string
	// Ready reports whether the process serves; StartCommand returns once it does (at once when
	// nil). Waiting names what it waits for in errors.
	Ready   func() bool
	Waiting string
}

// HTTPReady reports whether url answers 200 OK.
func HTTPReady(url string) bool {
	resp, err := http.Get(url)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// StartCommand runs cmd in its own session, so that it keeps running after the demo exits, with
// its pid file in pids/, so that hack/local-cluster.sh down stops it. A process of the same name
// left by an earlier run makes way first.
func (c *Cluster) StartCommand(ctx context.Context, cmd Command) (*Process, error) {
	name := cmd.Name
	p := &Process{Name: name, Log: cmd.Log, pidFile: filepath.Join(c.Dir, "pids", name+".pid")}
	if p.Log == "" {
		p.Log = filepath.Join(c.Dir, "logs", name+".log")
	}
	if err := stopRecorded(p.pidFile); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(p.Log), 0o755); err != nil {
		return nil, err
	}
	logFile, err := os.Create(p.Log)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	p.cmd = exec.Command(cmd.Path, cmd.Args...)
	p.cmd.Env = append(os.Environ(), cmd.Env...)
	p.cmd.Dir = cmd.Dir
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	// The executable as /proc/<pid>/exe shows it, for hack/local-cluster.sh to recognise it.
	exe, err := filepath.EvalSymlinks(p.cmd.Path) // found on PATH when cmd.Path is a bare name
	if err != nil {
		exe = p.cmd.Path
	}
	if exe, err = filepath.Abs(exe); err != nil {
		return nil, err
	}
	if err := os.WriteFile(p.pidFile, []byte(fmt.Sprintf("%d %s\n", p.cmd.Process.Pid, exe)), 0o644); err != nil {
		return nil, err
	}
	p.done = make(chan struct{})
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	if cmd.Ready == nil {
		return p, nil
	}
	deadline := time.Now().Add(60 * time.Second)
	for !cmd.Ready() {
		select {
		case <-p.done:
			return nil, fmt.Errorf("%s exited (%v); see %s", name, p.err, p.Log)
		case <-ctx.Done():
			p.Stop()
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.Stop()
			return nil, fmt.Errorf("%s is not ready after 60s (%s); see %s", name, cmd.Waiting, p.Log)
		}
	}
	return p, nil
}

// Stop stops the process (TERM, then KILL after 10s), then what it started in its session (git,
// kustomize), and removes its pid file. Safe on nil.
func (p *Process) Stop() {
	if p == nil {
		return
	}
	select {
	case <-p.done:
	default:
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
	// The session leader's pid is its process group's id.
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	_ = os.Remove(p.pidFile)
}

// stopRecorded stops the process of a pid file ("<pid> <executable>") if it still runs that
// executable, and removes the file.
func stopRecorded(pidFile string) error {
	raw, err := os.ReadFile(pidFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer os.Remove(pidFile)
	fields := strings.Fields(string(raw))
	if len(fields) != 2 {
		return nil
	}
	pid, err := strconv.Atoi(fields[0])
	if err != nil {
		return nil
	}
	if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err != nil || exe != fields[1] {
		return nil // gone, or the pid now belongs to another program
	}
	p, err := os.FindProcess(pid)
	if err != nil {
		return nil
	}
	_ = p.Signal(syscall.SIGTERM)
	for i := 0; i < 100; i++ {
		if p.Signal(syscall.Signal(0)) != nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = p.Kill()
	return nil
}

// serviceAccountKubeconfig writes a kubeconfig that authenticates with a token of the
// hourglass-operator ServiceAccount.
func (c *Cluster) serviceAccountKubeconfig(ctx context.Context) (string, error) {
	cs, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return "", err
	}
	expiry := int64((24 * time.Hour).Seconds())
	tr, err := cs.CoreV1().ServiceAccounts(ControllerNamespace).CreateToken(ctx, ControllerServiceAccount,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &expiry}}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("requesting a token for ServiceAccount %s/%s: %w", ControllerNamespace, ControllerServiceAccount, err)
	}
	admin, err := clientcmd.LoadFromFile(c.Kubeconfig)
	if err != nil {
		return "", err
	}
	cluster := admin.Clusters[admin.Contexts[admin.CurrentContext].Cluster]
	user := "system:serviceaccount:" + ControllerNamespace + ":" + ControllerServiceAccount
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["local"] = cluster
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	cfg.Contexts["controller"] = &clientcmdapi.Context{Cluster: "local", AuthInfo: user, Namespace: ControllerNamespace}
	cfg.CurrentContext = "controller"
	path := filepath.Join(c.Dir, "controller.kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return "", err
	}
	return path, nil
}

// FreePorts returns n distinct free loopback ports.
func FreePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close() // held until all are picked, so they differ
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// Examples returns the example folders (examples/<use>/ with a kustomization.yaml), sorted.
func Examples(root string) ([]string, error) {
	matches, err := filepath.Glob(filepath.Join(root, "examples", "*", "kustomization.yaml"))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range matches {
		out = append(out, filepath.Dir(m))
	}
	sort.Strings(out)
	if len(out) == 0 {
		return nil, fmt.Errorf("no examples/*/kustomization.yaml under %s", root)
	}
	return out, nil
}

// FunctionBinary is where the examples' kustomizations expect the KRM function (exec form), as
// `make build` puts it.
func FunctionBinary(root string) string { return filepath.Join(root, "bin", "avs-executor-fn") }

// BuildFunction builds the KRM function to FunctionBinary.
func BuildFunction(ctx context.Context, root string, out io.Writer) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", FunctionBinary(root), "./functions")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOTOOLCHAIN=local", "GOFLAGS=-buildvcs=false")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("building the KRM function: %w", err)
	}
	return nil
}

// Example is one rendered example.
type Example struct {
	// Name is the example's folder name.
	Name string
	// Dir is the example's folder.
	Dir string
	// File holds the rendered manifests.
	File string
	// Objects are the rendered objects.
	Objects []*unstructured.Unstructured
}

// RenderExamples renders every example with the kustomize CLI and the KRM function (built by
// BuildFunction) into outDir/<name>.yaml.
func RenderExamples(ctx context.Context, root, outDir string) ([]Example, error) {
	dirs, err := Examples(root)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, err
	}
	var out []Example
	for _, dir := range dirs {
		rendered, err := Build(ctx, root, dir, true)
		if err != nil {
			return out, err
		}
		e := Example{Name: filepath.Base(dir), Dir: dir, File: filepath.Join(outDir, filepath.Base(dir)+".yaml")}
		if e.Objects, err = ReadObjects(rendered); err != nil {
			return out, fmt.Errorf("%s: %w", e.Name, err)
		}
		if err := os.WriteFile(e.File, rendered, 0o644); err != nil {
			return out, err
		}
		out = append(out, e)
	}
	return out, nil
}

// Placements prints a table of every Performer: its hardware needs, whether it is ready, and the
// node (and node pool) its pod landed on.
func (c *Cluster) Placements(ctx context.Context) (string, error) {
	cl, err := client.New(c.Config, client.Options{})
	if err != nil {
		return "", err
	}
	var performers unstructured.UnstructuredList
	performers.SetAPIVersion("hourglass.eigenlayer.io/v1alpha1")
	performers.SetKind("PerformerList")
	if err := cl.List(ctx, &performers); err != nil {
		return "", err
	}
	var pods corev1.PodList
	if err := cl.List(ctx, &pods, client.MatchingLabels{"app": "hourglass-performer"}); err != nil {
		return "", err
	}
	var nodes corev1.NodeList
	if err := cl.List(ctx, &nodes); err != nil {
		return "", err
	}
	pool := map[string]string{}
	for _, n := range nodes.Items {
		pool[n.Name] = n.Labels["node.kubernetes.io/pool"]
	}
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "NAMESPACE\tPERFORMER\tNEEDS\tREADY\tPOD\tNODE\tPOOL")
	for _, p := range performers.Items {
		ready := "False"
		conds, _, _ := unstructured.NestedSlice(p.Object, "status", "conditions")
		for _, cond := range conds {
			if m, ok := cond.(map[string]any); ok && m["type"] == "Ready" {
				ready, _ = m["status"].(string)
			}
		}
		pod, node := "-", "-"
		for _, po := range pods.Items {
			if po.Namespace == p.GetNamespace() && po.Labels["hourglass.eigenlayer.io/performer"] == p.GetName() && po.DeletionTimestamp == nil {
				pod, node = po.Name, po.Spec.NodeName
			}
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.GetNamespace(), p.GetName(), Needs(&p), ready, pod, node, pool[node])
	}
	w.Flush()
	return b.String(), nil
}

// Needs summarises what a Performer asks of its node: gpu, sgx, sev-snp, tdx, bottlerocket or
// nothing special ("-").
func Needs(p *unstructured.Unstructured) string {
	var needs []string
	gpus, _, _ := unstructured.NestedInt64(p.Object, "spec", "hardwareRequirements", "gpuCount")
	if gpus > 0 {
		needs = append(needs, fmt.Sprintf("gpu x%d", gpus))
	}
	if tee, _, _ := unstructured.NestedString(p.Object, "spec", "hardwareRequirements", "teeType"); tee != "" {
		needs = append(needs, tee)
	}
	sel, _, _ := unstructured.NestedStringMap(p.Object, "spec", "scheduling", "nodeSelector")
	if sel["node.kubernetes.io/os"] == "bottlerocket" {
		needs = append(needs, "bottlerocket")
	}
	if len(needs) == 0 {
		return "-"
	}
	return strings.Join(needs, ",")
}

// ReadObjects decodes the Kubernetes objects of a multi-document YAML stream, with numbers as
// int64 where they are whole, as the API machinery reads them.
func ReadObjects(b []byte) ([]*unstructured.Unstructured, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
	var out []*unstructured.Unstructured
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("decoding manifests: %w", err)
		}
		js, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return nil, fmt.Errorf("decoding manifests: %w", err)
		}
		if len(bytes.TrimSpace(js)) == 0 || string(bytes.TrimSpace(js)) == "null" {
			continue
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(js); err != nil {
			return nil, fmt.Errorf("decoding manifests: %w", err)
		}
		out = append(out, u)
	}
}

// ReadObjectsFile decodes the Kubernetes objects of a multi-document YAML file.
func ReadObjectsFile(path string) ([]*unstructured.Unstructured, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	objs, err := ReadObjects(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return objs, nil
}

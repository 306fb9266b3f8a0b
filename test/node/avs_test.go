package node

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/hourglass-gitops/hourglass-gitops/test/executor/executorapi"
	"github.com/hourglass-gitops/hourglass-gitops/test/framework/cluster"
	"github.com/hourglass-gitops/hourglass-gitops/test/framework/krm"
	"github.com/hourglass-gitops/hourglass-gitops/test/framework/realnode"
)

// examples/basic's names.
const (
	avsNamespace     = "my-avs-project"
	executorSet      = "my-avs-executor"
	executorPod      = executorSet + "-0"
	executorPort     = 9095
	declaredName     = "my-avs"
	performerDeploy  = "performer-my-avs"
	avsAddress       = "0x1234567890abcdef1234567890abcdef12345678"
	operatorKeys     = "my-avs-operator-keys"
	forwarderName    = "performer-forwarder"
	executorName     = "executor"
	declarationLabel = "fn.hourglass.eigenlayer.io/declaration"
)

var performerGVR = schema.GroupVersionResource{Group: "hourglass.eigenlayer.io", Version: "v1alpha1", Resource: "performers"}

// avs is examples/basic on the real node: what its steps share.
type avs struct {
	c      *cluster.Cluster
	cs     kubernetes.Interface
	dyn    dynamic.Interface
	images *realnode.Images
	fwd    *realnode.PortForward
	conn   *grpc.ClientConn
	seq    atomic.Int64
}

func newAVS(t *testing.T, c *cluster.Cluster, images *realnode.Images) *avs {
	cs, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	a := &avs{c: c, cs: cs, dyn: dyn, images: images}
	t.Cleanup(a.disconnect)
	return a
}

func (a *avs) kubectl(t *testing.T, ctx context.Context, args ...string) string {
	t.Helper()
	out, err := a.c.Kubectl(ctx, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// install renders examples/basic for the real node and applies it with the operator key Secret
// the example needs, then waits for the Performer and the executor.
func (a *avs) install(t *testing.T, ctx context.Context) {
	podman := filepath.Join(a.c.Root, "hack", "podman", "podman.sh")
	if out, err := exec.CommandContext(ctx, podman, "load", "-q", "-i", a.images.FunctionArchive).CombinedOutput(); err != nil {
		t.Fatalf("podman is unusable here, so the function image cannot run (hack/podman/podman.sh load -i %s): %v\n%s", a.images.FunctionArchive, err, out)
	}
	ns, rest := a.render(t, ctx, a.images.PerformerTag)
	a.kubectl(t, ctx, "apply", "--server-side", "-f", ns)
	if err := realnode.OperatorKeysSecret(ctx, a.cs, avsNamespace, operatorKeys); err != nil {
		t.Fatal(err)
	}
	t1 := time.Now()
	a.kubectl(t, ctx, "apply", "--server-side", "-f", rest)
	a.kubectl(t, ctx, "-n", avsNamespace, "wait", "--for=condition=Ready", "--timeout=3m", "performer/"+declaredName)
	t.Logf("declared Performer %s Ready %.1fs after the apply", declaredName, time.Since(t1).Seconds())
	a.kubectl(t, ctx, "-n", avsNamespace, "rollout", "status", "statefulset/"+executorSet, "--timeout=4m")
	t.Logf("executor StatefulSet ready %.1fs after the apply", time.Since(t1).Seconds())
}

// render renders a copy of examples/basic, pointed at the local images (the sample performer at
// performerTag) and the real node, with the function image under podman (kpt fn eval --image),
// into two files to apply: the Namespace, and the rest.
func (a *avs) render(t *testing.T, ctx context.Context, performerTag string) (nsFile, restFile string) {
	root := a.c.Root
	kpt, err := exec.LookPath("kpt")
	if err != nil {
		t.Fatal("kpt is not installed: this test renders examples/basic with kpt fn eval --image")
	}
	dir := filepath.Join(a.c.Dir, "basic")
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(dir, os.DirFS(filepath.Join(root, "examples", "basic"))); err != nil {
		t.Fatal(err)
	}
	decl, err := os.ReadFile(filepath.Join(dir, "executor.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if decl, err = realnode.Declaration(decl, performerTag); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "executor.yaml"), decl, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, kpt, "fn", "eval", "--image", a.images.FunctionRef, "--image-pull-policy", "never",
		"--fn-config", "executor.yaml", "--truncate-output=false", "-o", "stdout", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PATH="+filepath.Join(root, "hack", "podman", "bin")+string(os.PathListSeparator)+os.Getenv("PATH"),
		"KPT_FN_RUNTIME=podman")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	t0 := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("kpt fn eval --image %s (KPT_FN_RUNTIME=podman): %v\n%s", a.images.FunctionRef, err, stderr.String())
	}
	items, err := krm.ResourceListItems(stdout.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	objs, err := krm.Applied(items)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("kpt fn eval --image %s: %d objects in %.1fs", a.images.FunctionRef, len(objs), time.Since(t0).Seconds())
	// The Namespace first, so that the Secret can go in before the executor pod needs it.
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range objs {
			if !yield(k) {
				return
			}
		}
	})
	var ns, rest bytes.Buffer
	for _, k := range keys {
		b, err := yaml.Marshal(objs[k])
		if err != nil {
			t.Fatal(err)
		}
		w := &rest
		if strings.HasPrefix(k, "v1/Namespace/") {
			w = &ns
		}
		w.WriteString("---\n")
		w.Write(b)
	}
	if ns.Len() == 0 {
		t.Fatal("the rendered example has no Namespace (createNamespace: true)")
	}
	write := func(name string, b []byte) string {
		f := filepath.Join(a.c.Dir, name)
		if err := os.WriteFile(f, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return f
	}
	return write("basic-namespace.yaml", ns.Bytes()), write("basic.yaml", rest.Bytes())
}

// namespaces checks that every namespace this test runs pods in enforces the restricted Pod
// Security Standard.
func (a *avs) namespaces(t *testing.T, ctx context.Context) {
	for _, name := range []string{avsNamespace, cluster.ControllerNamespace, namespace} {
		ns, err := a.cs.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got := ns.Labels["pod-security.kubernetes.io/enforce"]
		t.Logf("namespace %s: pod-security.kubernetes.io/enforce=%s", name, got)
		if got != "restricted" {
			t.Errorf("namespace %s enforces %q, want restricted", name, got)
		}
	}
}

// process is what the host's /proc says about a container's main process.
type process struct {
	PID    int
	UID    string
	RootRO bool
}

// hostProcess finds a container's process on the host by its container ID in the process's
// cgroup path (the kubelet's cgroupfs driver puts it there) and reads its UID and root mount.
func hostProcess(containerID string) (process, error) {
	_, id, _ := strings.Cut(containerID, "://")
	if id == "" {
		return process{}, fmt.Errorf("no container ID in %q", containerID)
	}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		cg, err := os.ReadFile(filepath.Join(d, "cgroup"))
		if err != nil || !bytes.Contains(cg, []byte(id)) {
			continue
		}
		var p process
		fmt.Sscan(filepath.Base(d), &p.PID)
		status, err := os.ReadFile(filepath.Join(d, "status"))
		if err != nil {
			return p, err
		}
		for _, line := range strings.Split(string(status), "\n") {
			if f := strings.Fields(line); len(f) > 1 && f[0] == "Uid:" {
				p.UID = f[1]
			}
		}
		mi, err := os.ReadFile(filepath.Join(d, "mountinfo"))
		if err != nil {
			return p, err
		}
		sc := bufio.NewScanner(bytes.NewReader(mi))
		for sc.Scan() {
			if f := strings.Fields(sc.Text()); len(f) > 5 && f[4] == "/" {
				p.RootRO = slices.Contains(strings.Split(f[5], ","), "ro")
			}
		}
		return p, nil
	}
	return process{}, fmt.Errorf("no process in a cgroup of container %s", id)
}

// specUID is the UID a container's spec asks for: its own runAsUser, the pod's, or the image's
// user (65532 in every image built here).
func specUID(pod *corev1.Pod, c *corev1.Container) (int64, string) {
	if c.SecurityContext != nil && c.SecurityContext.RunAsUser != nil {
		return *c.SecurityContext.RunAsUser, "container runAsUser"
	}
	if pod.Spec.SecurityContext != nil && pod.Spec.SecurityContext.RunAsUser != nil {
		return *pod.Spec.SecurityContext.RunAsUser, "pod runAsUser"
	}
	return 65532, "the image's USER"
}

// pods checks every pod of the example on the node: Running there, each container's process as
// the UID its spec says, its root filesystem read-only, the forwarder (a native
// sidecar) started before the executor.
func (a *avs) pods(t *testing.T, ctx context.Context) {
	list, err := a.cs.CoreV1().Pods(avsNamespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 2 {
		t.Errorf("%d pods in %s, want 2 (the executor and the performer)", len(list.Items), avsNamespace)
	}
	for i := range list.Items {
		pod := &list.Items[i]
		if pod.Status.Phase != corev1.PodRunning || pod.Spec.NodeName != cluster.RealNodeName {
			t.Errorf("pod %s is %s on %q, want Running on %s", pod.Name, pod.Status.Phase, pod.Spec.NodeName, cluster.RealNodeName)
			continue
		}
		statuses := map[string]corev1.ContainerStatus{}
		for _, s := range append(slices.Clone(pod.Status.InitContainerStatuses), pod.Status.ContainerStatuses...) {
			statuses[s.Name] = s
		}
		for _, c := range append(slices.Clone(pod.Spec.InitContainers), pod.Spec.Containers...) {
			s := statuses[c.Name]
			if s.State.Running == nil {
				t.Errorf("pod %s container %s is not running: %+v", pod.Name, c.Name, s.State)
				continue
			}
			p, err := hostProcess(s.ContainerID)
			if err != nil {
				t.Errorf("pod %s container %s: %v", pod.Name, c.Name, err)
				continue
			}
			uid, from := specUID(pod, &c)
			wantRO := c.SecurityContext != nil && ptr.Deref(c.SecurityContext.ReadOnlyRootFilesystem, false)
			t.Logf("pod %s container %s (%s): pid %d uid %s (spec: %d from %s), root read-only %t (spec: %t), started %s",
				pod.Name, c.Name, s.Image, p.PID, p.UID, uid, from, p.RootRO, wantRO, s.State.Running.StartedAt.Format(time.RFC3339))
			if p.UID != fmt.Sprint(uid) {
				t.Errorf("pod %s container %s runs as uid %s, its spec says %d (%s)", pod.Name, c.Name, p.UID, uid, from)
			}
			if p.RootRO != wantRO {
				t.Errorf("pod %s container %s: root filesystem read-only %t, its spec says %t", pod.Name, c.Name, p.RootRO, wantRO)
			}
			// Every container of the example, the performer's too (the controller's default).
			if !wantRO {
				t.Errorf("pod %s container %s: its spec does not ask for a read-only root filesystem", pod.Name, c.Name)
			}
		}
		if pod.Name == executorPod {
			fwd, ex := statuses[forwarderName], statuses[executorName]
			if fwd.State.Running == nil || ex.State.Running == nil {
				t.Errorf("pod %s: want %s and %s running", pod.Name, forwarderName, executorName)
				continue
			}
			t.Logf("pod %s: %s started %s, %s started %s", pod.Name, forwarderName, fwd.State.Running.StartedAt.Format(time.RFC3339),
				executorName, ex.State.Running.StartedAt.Format(time.RFC3339))
			if ex.State.Running.StartedAt.Before(&fwd.State.Running.StartedAt) || !ptr.Deref(fwd.Started, false) {
				t.Errorf("pod %s: the executor started before its forwarder sidecar: %+v / %+v", pod.Name, fwd, ex)
			}
		}
	}
}

// connect port-forwards to the executor pod's gRPC port through the kubelet.
func (a *avs) connect(t *testing.T, ctx context.Context) {
	t.Helper()
	if err := a.dial(ctx); err != nil {
		t.Fatal(err)
	}
}

func (a *avs) dial(ctx context.Context) error {
	a.disconnect()
	fwd, err := realnode.StartPortForward(ctx, a.c.Kubeconfig, avsNamespace, executorPod, executorPort)
	if err != nil {
		return err
	}
	conn, err := grpc.NewClient(fwd.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fwd.Stop()
		return err
	}
	a.fwd, a.conn = fwd, conn
	return nil
}

func (a *avs) disconnect() {
	if a.conn != nil {
		a.conn.Close()
		a.conn = nil
	}
	a.fwd.Stop()
	a.fwd = nil
}

// submit sends one task with payload n and checks that the answer is n².
func (a *avs) submit(ctx context.Context, n int64) (time.Duration, error) {
	id := fmt.Sprintf("task-%d", a.seq.Add(1))
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	t0 := time.Now()
	r, err := executorapi.SubmitTask(ctx, a.conn, &executorapi.TaskSubmission{TaskID: id, AvsAddress: avsAddress, Payload: []byte(fmt.Sprint(n))})
	d := time.Since(t0)
	if err != nil {
		return d, fmt.Errorf("task %s (payload %d): %w", id, n, err)
	}
	want := new(big.Int).Mul(big.NewInt(n), big.NewInt(n)).String()
	if string(r.Output) != want || r.TaskID != id {
		return d, fmt.Errorf("task %s (payload %d): got task %s output %q, want %s", id, n, r.TaskID, r.Output, want)
	}
	return d, nil
}

// flow sends n tasks one after the other; all must come back right. It returns the median.
func (a *avs) flow(t *testing.T, ctx context.Context, n int) time.Duration {
	t.Helper()
	var took []time.Duration
	for i := range n {
		d, err := a.submit(ctx, int64(1000+i))
		if err != nil {
			t.Fatal(err)
		}
		took = append(took, d)
	}
	slices.Sort(took)
	t.Logf("%d tasks through the executor pod: median %.2f ms, slowest %.2f ms", n, ms(took[n/2]), ms(took[n-1]))
	return took[n/2]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// roundTrip checks the path: the forwarder's route names the declared performer's Service by
// its cluster DNS name, and tasks sent to the executor pod come back squared.
func (a *avs) roundTrip(t *testing.T, ctx context.Context) {
	pod, err := a.cs.CoreV1().Pods(avsNamespace).Get(ctx, executorPod, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	route := "--route=127.0.0.1:9101=" + performerDeploy + "." + avsNamespace + ".svc.cluster.local:9090"
	var fwdArgs []string
	for _, c := range pod.Spec.InitContainers {
		if c.Name == forwarderName {
			fwdArgs = c.Args
		}
	}
	if !slices.Contains(fwdArgs, route) {
		t.Errorf("forwarder args %q, want %s", fwdArgs, route)
	}
	a.connect(t, ctx)
	t0 := time.Now()
	if _, err := a.submit(ctx, 12); err != nil {
		t.Fatal(err)
	}
	t.Logf("first task (payload 12, result 144) %.1f ms, port-forward included", ms(time.Since(t0)))
	a.flow(t, ctx, 20)
	a.largeTask(t, ctx)
	a.conntrack(t, ctx, pod)
}

// largeTask sends a task far larger than the forwarder's 16 KiB buffer, whose bytes the forwarder
// splices through a kernel pipe inside the executor pod's seccomp profile (RuntimeDefault). The
// performer refuses it for its size, and its answer names the number of digits it received: every
// byte went through.
func (a *avs) largeTask(t *testing.T, ctx context.Context) {
	const digits = 1 << 20
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	id := fmt.Sprintf("task-%d", a.seq.Add(1))
	t0 := time.Now()
	_, err := executorapi.SubmitTask(ctx, a.conn, &executorapi.TaskSubmission{TaskID: id, AvsAddress: avsAddress,
		Payload: bytes.Repeat([]byte("7"), digits)})
	want := fmt.Sprintf("payload: %d digits", digits)
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), want) {
		t.Fatalf("task %s of %d digits: %v, want InvalidArgument saying %q", id, digits, err, want)
	}
	t.Logf("task of %d digits through the forwarder and back refused for its size in %.1f ms", digits, ms(time.Since(t0)))
}

// conntrack shows, from the host's connection tracking (kube-proxy's DNAT), the forwarder's
// connection: from the executor pod to the performer Service's ClusterIP, answered by the
// performer pod.
func (a *avs) conntrack(t *testing.T, ctx context.Context, executor *corev1.Pod) {
	svc, err := a.cs.CoreV1().Services(avsNamespace).Get(ctx, performerDeploy, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pods := a.performerPods(t, ctx)
	if len(pods) != 1 {
		t.Fatalf("%d performer pods, want 1", len(pods))
	}
	out, err := exec.CommandContext(ctx, "conntrack", "-L", "-p", "tcp", "--orig-src", executor.Status.PodIP,
		"--orig-dst", svc.Spec.ClusterIP, "--dport", "9090").CombinedOutput()
	if err != nil {
		t.Fatalf("conntrack -L: %v\n%s", err, out)
	}
	want := "src=" + pods[0].Status.PodIP + " dst=" + executor.Status.PodIP
	var found string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "ESTABLISHED") && strings.Contains(line, want) {
			found = strings.Join(strings.Fields(line), " ")
		}
	}
	if found == "" {
		t.Fatalf("no established connection from the executor pod (%s) to Service %s (%s:9090) answered by the performer pod %s (%s):\n%s",
			executor.Status.PodIP, svc.Name, svc.Spec.ClusterIP, pods[0].Name, pods[0].Status.PodIP, out)
	}
	t.Logf("host conntrack: executor pod %s -> Service %s %s:9090 -> performer pod %s: %s",
		executor.Status.PodIP, svc.Name, svc.Spec.ClusterIP, pods[0].Status.PodIP, found)
}

// performerPods lists the declared performer's pods.
func (a *avs) performerPods(t *testing.T, ctx context.Context) []corev1.Pod {
	t.Helper()
	d, err := a.cs.AppsV1().Deployments(avsNamespace).Get(ctx, performerDeploy, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		t.Fatal(err)
	}
	list, err := a.cs.CoreV1().Pods(avsNamespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		t.Fatal(err)
	}
	return list.Items
}

// load sends tasks one after the other until stop, port-forwarding again when the executor pod
// it reached is gone, and counts the tasks that failed and the longest time without an answer.
type load struct {
	sent, failed int
	longestGap   time.Duration
	errs         map[string]int
	stop         chan struct{}
	done         chan struct{}
}

func (a *avs) startLoad(ctx context.Context) *load {
	l := &load{errs: map[string]int{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		last := time.Now()
		failedInRow := 0
		for i := int64(0); ; i++ {
			select {
			case <-l.stop:
				return
			case <-ctx.Done():
				return
			default:
			}
			// kubectl port-forward ends when its pod goes; a few failures in a row redial too.
			if a.fwd == nil || a.fwd.Exited() || failedInRow >= 3 {
				failedInRow = 0
				if err := a.dial(ctx); err != nil {
					time.Sleep(500 * time.Millisecond)
					continue
				}
			}
			l.sent++
			if _, err := a.submit(ctx, 2000+i); err != nil {
				l.failed++
				msg := err.Error()
				if _, after, ok := strings.Cut(msg, "): "); ok {
					msg = after
				}
				l.errs[msg]++
				failedInRow++
				time.Sleep(200 * time.Millisecond)
				continue
			}
			failedInRow = 0
			l.longestGap = max(l.longestGap, time.Since(last))
			last = time.Now()
			time.Sleep(50 * time.Millisecond)
		}
	}()
	return l
}

func (l *load) end() *load {
	close(l.stop)
	<-l.done
	return l
}

// performerReady waits until the declared Performer reports Ready for its current generation
// and its Deployment has rolled out.
func (a *avs) performerReady(t *testing.T, ctx context.Context) {
	t.Helper()
	a.kubectl(t, ctx, "-n", avsNamespace, "rollout", "status", "deployment/"+performerDeploy, "--timeout=3m")
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		u, err := a.dyn.Resource(performerGVR).Namespace(avsNamespace).Get(ctx, declaredName, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		return performerReadyNow(u), nil
	})
	if err != nil {
		t.Fatalf("Performer %s not Ready: %v", declaredName, err)
	}
}

// performerReadyNow says a Performer's Ready condition is True for its generation.
func performerReadyNow(u *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == "Ready" {
			og, _ := m["observedGeneration"].(int64)
			return m["status"] == "True" && og == u.GetGeneration()
		}
	}
	return false
}

// roll changes the performer's version in the declaration to a second tag of the same image,
// renders it again and applies it, as a GitOps engine does after a commit, while tasks flow. The
// executor's configuration names the performer's image too, so its pod restarts as well: a
// port-forward reaches one pod, so the load port-forwards again to the new one.
func (a *avs) roll(t *testing.T, ctx context.Context) {
	before := a.performerPods(t, ctx)
	_, rest := a.render(t, ctx, realnode.RolledTag)
	l := a.startLoad(ctx)
	time.Sleep(time.Second)
	t0 := time.Now()
	a.kubectl(t, ctx, "apply", "--server-side", "-f", rest)
	a.performerReady(t, ctx)
	performerRolled := time.Since(t0)
	a.kubectl(t, ctx, "-n", avsNamespace, "rollout", "status", "statefulset/"+executorSet, "--timeout=4m")
	executorRolled := time.Since(t0)
	time.Sleep(3 * time.Second)
	l.end()
	t.Logf("performer at %s:%s: Performer Ready and Deployment rolled out %.1fs after the apply, executor StatefulSet %.1fs",
		realnode.PerformerRepository, realnode.RolledTag, performerRolled.Seconds(), executorRolled.Seconds())
	t.Logf("tasks during the roll: %d sent, %d failed, longest time without an answer %.1fs; errors: %v",
		l.sent, l.failed, l.longestGap.Seconds(), l.errs)
	after := a.performerPods(t, ctx)
	var names []string
	for _, p := range after {
		names = append(names, p.Name+" "+p.Spec.Containers[0].Image+" "+string(p.Status.Phase))
		for _, b := range before {
			if b.UID == p.UID {
				t.Errorf("pod %s from before the roll is still there", p.Name)
			}
		}
	}
	if len(after) != 1 || after[0].Spec.Containers[0].Image != realnode.PerformerRepository+":"+realnode.RolledTag || after[0].Spec.NodeName != cluster.RealNodeName {
		t.Errorf("performer pods after the roll: %q, want one running %s:%s on %s", names, realnode.PerformerRepository, realnode.RolledTag, cluster.RealNodeName)
	}
	a.connect(t, ctx)
	a.flow(t, ctx, 10)
}

// killPerformer deletes the performer pod: a new one becomes Ready and tasks flow.
func (a *avs) killPerformer(t *testing.T, ctx context.Context) {
	before := a.performerPods(t, ctx)
	if len(before) != 1 {
		t.Fatalf("%d performer pods, want 1", len(before))
	}
	t0 := time.Now()
	a.kubectl(t, ctx, "-n", avsNamespace, "delete", "pod", before[0].Name, "--wait=false")
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		for _, p := range a.performerPods(t, ctx) {
			if p.UID != before[0].UID && podReady(&p) {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("no new performer pod Ready: %v", err)
	}
	a.performerReady(t, ctx)
	t.Logf("performer pod %s deleted; a new one Ready and the Performer Ready %.1fs later", before[0].Name, time.Since(t0).Seconds())
	a.flow(t, ctx, 10)
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// executorPerformers lists the Performers the executor made (those not declared in Git).
func (a *avs) executorPerformers(t *testing.T, ctx context.Context) []unstructured.Unstructured {
	t.Helper()
	list, err := a.dyn.Resource(performerGVR).Namespace(avsNamespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []unstructured.Unstructured
	for _, p := range list.Items {
		if _, declared := p.GetAnnotations()[declarationLabel]; !declared {
			out = append(out, p)
		}
	}
	return out
}

// startRecord is the stand-in's log line about its storage folder.
type startRecord struct {
	Msg           string `json:"msg"`
	File          string `json:"file"`
	EarlierStarts int    `json:"earlierStarts"`
	Earlier       string `json:"earlier"`
	ThisStart     string `json:"thisStart"`
}

func (a *avs) storageRecord(t *testing.T, ctx context.Context) startRecord {
	t.Helper()
	logs := a.kubectl(t, ctx, "-n", avsNamespace, "logs", executorPod, "-c", executorName)
	for _, line := range strings.Split(logs, "\n") {
		var r startRecord
		if json.Unmarshal([]byte(line), &r) == nil && r.Msg == "storage" {
			return r
		}
	}
	t.Fatalf("no storage line in the executor's log:\n%s", logs)
	return startRecord{}
}

// killExecutor deletes the executor pod: its Performer goes with it, the new pod's Performer is
// bound to the declared one and Ready, and the new pod finds what the old one wrote on the
// volume.
func (a *avs) killExecutor(t *testing.T, ctx context.Context) {
	old, err := a.cs.CoreV1().Pods(avsNamespace).Get(ctx, executorPod, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	oldPerformers := a.executorPerformers(t, ctx)
	if len(oldPerformers) != 1 {
		t.Fatalf("%d Performers made by the executor before the restart, want 1", len(oldPerformers))
	}
	oldStart := a.storageRecord(t, ctx)
	pvc, err := a.cs.CoreV1().PersistentVolumeClaims(avsNamespace).Get(ctx, "data-"+executorPod, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("before: pod %s (uid %s), its Performer %s, storage %s with %d earlier starts, PVC %s on PV %s",
		old.Name, old.UID, oldPerformers[0].GetName(), oldStart.File, oldStart.EarlierStarts, pvc.Name, pvc.Spec.VolumeName)
	a.disconnect()
	t0 := time.Now()
	a.kubectl(t, ctx, "-n", avsNamespace, "delete", "pod", executorPod, "--wait=false")
	// The executor deletes its Performer on SIGTERM, while its pod is still terminating; the
	// garbage collector would only remove it once the pod object is gone.
	var podLeft bool
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := a.dyn.Resource(performerGVR).Namespace(avsNamespace).Get(ctx, oldPerformers[0].GetName(), metav1.GetOptions{})
		if !apierrors.IsNotFound(err) {
			return false, nil
		}
		p, err := a.cs.CoreV1().Pods(avsNamespace).Get(ctx, executorPod, metav1.GetOptions{})
		podLeft = err == nil && p.UID == old.UID
		return true, nil
	})
	if err != nil {
		t.Fatalf("the old executor's Performer %s is still there: %v", oldPerformers[0].GetName(), err)
	}
	t.Logf("old Performer %s gone %.1fs after the pod's deletion; its pod still terminating then: %t", oldPerformers[0].GetName(), time.Since(t0).Seconds(), podLeft)
	if !podLeft {
		t.Errorf("Performer %s was gone only after its pod: deleted by the garbage collector, not by the executor on SIGTERM", oldPerformers[0].GetName())
	}
	var pod *corev1.Pod
	err = wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 4*time.Minute, true, func(ctx context.Context) (bool, error) {
		p, err := a.cs.CoreV1().Pods(avsNamespace).Get(ctx, executorPod, metav1.GetOptions{})
		if err != nil || p.UID == old.UID || !podReady(p) {
			return false, nil
		}
		pod = p
		return true, nil
	})
	if err != nil {
		t.Fatalf("no new executor pod Ready: %v", err)
	}
	t.Logf("executor pod deleted; the new one (uid %s) Ready %.1fs later", pod.UID, time.Since(t0).Seconds())

	now := a.executorPerformers(t, ctx)
	var names []string
	for _, p := range now {
		names = append(names, p.GetName())
	}
	t.Logf("Performers made by the executor after the restart: %d %q", len(now), names)
	if len(now) != 1 || now[0].GetName() == oldPerformers[0].GetName() {
		t.Fatalf("want exactly one Performer made by the executor, a new one (the old was %s), got %q", oldPerformers[0].GetName(), names)
	}
	p := now[0]
	bound := ""
	conds, _, _ := unstructured.NestedSlice(p.Object, "status", "conditions")
	for _, c := range conds {
		if m, _ := c.(map[string]any); m["type"] == "Bound" {
			bound = fmt.Sprintf("%v: %v", m["status"], m["message"])
		}
	}
	isReady, _, _ := unstructured.NestedBool(p.Object, "status", "ready")
	var owners []string
	for _, o := range p.GetOwnerReferences() {
		owners = append(owners, o.Kind+"/"+o.Name+" "+string(o.UID))
	}
	t.Logf("Performer %s: ready %t, Bound %s, owners %q", p.GetName(), isReady, bound, owners)
	if !isReady || !strings.HasPrefix(bound, "True") {
		t.Errorf("Performer %s: ready %t, Bound %q; want ready and bound to %s", p.GetName(), isReady, bound, declaredName)
	}
	if !slices.Contains(owners, "Pod/"+executorPod+" "+string(pod.UID)) {
		t.Errorf("Performer %s owners %q, want the new pod %s (uid %s)", p.GetName(), owners, executorPod, pod.UID)
	}

	rec := a.storageRecord(t, ctx)
	t.Logf("after: storage %s: %d earlier starts %q, this start %s", rec.File, rec.EarlierStarts, rec.Earlier, rec.ThisStart)
	if !slices.Contains(strings.Split(rec.Earlier, ","), oldStart.ThisStart) || rec.EarlierStarts != oldStart.EarlierStarts+1 {
		t.Errorf("the new executor pod found starts %q on its volume, want the old pod's %s among %d", rec.Earlier, oldStart.ThisStart, oldStart.EarlierStarts+1)
	}
	pvc2, err := a.cs.CoreV1().PersistentVolumeClaims(avsNamespace).Get(ctx, "data-"+executorPod, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(pvc.UID)+" "+pvc.Spec.VolumeName, string(pvc2.UID)+" "+pvc2.Spec.VolumeName); diff != "" {
		t.Errorf("the executor's PVC changed across the restart (-before +after):\n%s", diff)
	}
	a.connect(t, ctx)
	a.flow(t, ctx, 10)
}

// Package node proves the real node of hack/local-cluster.sh (docs/real-node.md) on a local
// cluster of its own: a kubelet with containerd joins the control plane beside the KWOK nodes and
// becomes Ready; a pod from an image imported as an OCI layout runs there as a non-root UID on a
// read-only root filesystem, with a native sidecar started before its main container and a PVC
// on the node's disk; another pod reaches it through its Service by cluster DNS name (CoreDNS,
// kube-proxy); a pod reaches the API server as in-cluster clients do (the kubernetes Service,
// its ServiceAccount token); the operator's Deployment from base/ runs there and reconciles a
// Performer; and `down` leaves no process, mount, network namespace, bridge,
// iptables chain or cgroup behind.
//
// It runs only with HOURGLASS_E2E=1 (make test-node), as root (mounts, network namespaces,
// iptables). HOURGLASS_NODE_CLUSTER_DIR sets the cluster's state folder (default
// .local/node-cluster); the cluster is stopped at the end, pass or fail, and its logs stay there.
package node

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/hourglass-gitops/hourglass-gitops/test/e2erun"
	"github.com/hourglass-gitops/hourglass-gitops/test/framework/cluster"
	"github.com/hourglass-gitops/hourglass-gitops/test/framework/node"
	"github.com/hourglass-gitops/hourglass-gitops/test/framework/node/probe"
	"github.com/hourglass-gitops/hourglass-gitops/test/framework/realnode"
)

const (
	namespace  = "real-node-test"
	probeImage = "localhost/hourglass/nodeprobe:test"
	probeUID   = 65532
)

func TestRealNode(t *testing.T) {
	e2erun.Gate(t, "real-node test", "test-node", "kubectl", "containerd", "runc", "ctr", "iptables", "conntrack", "kpt")
	if os.Geteuid() != 0 {
		t.Fatal("the real node needs root (mounts, network namespaces, iptables, cgroups); CI runs as root")
	}
	r := e2erun.Begin(t, "HOURGLASS_NODE_CLUSTER_DIR", "node-cluster", 10*time.Minute)
	root, dir, out, ctx := r.Root, r.Dir, r.Out, r.Ctx
	clock := e2erun.Start(t)
	phase := clock.Phase

	// Leftovers of a killed run would hold the node's mounts.
	if err := cluster.Down(root, dir, out); err != nil {
		t.Fatal(err)
	}
	downDone := false
	t.Cleanup(func() {
		if !downDone {
			if err := cluster.Down(root, dir, out); err != nil {
				t.Errorf("stopping the cluster: %v", err)
			}
		}
	})

	var c *cluster.Cluster
	var err error
	var images *realnode.Images
	probeBin := filepath.Join(dir, "bin", "nodeprobe")
	built := make(chan error, 1)
	go func() {
		if err := buildProbe(ctx, root, probeBin, filepath.Join(dir, "images", "nodeprobe")); err != nil {
			built <- err
			return
		}
		var err error
		images, err = realnode.BuildImages(ctx, root, dir, true, out)
		built <- err
	}()
	phase("cluster with a real node (script start to node Ready)", func() error {
		c, err = cluster.UpWith(ctx, root, dir, out, cluster.Options{RealNode: true})
		return err
	})
	phase("images: the probe, make images' controller, function and sample performer, the stand-in executor; imported into the node's containerd", func() error {
		if err := <-built; err != nil {
			return err
		}
		if err := c.LoadImage(ctx, filepath.Join(dir, "images", "nodeprobe")); err != nil {
			return err
		}
		return images.Load(ctx, c)
	})
	cs, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}

	var a *avs
	ok := clock.Steps(ctx, []e2erun.Step{
		{Name: "node Ready beside the KWOK nodes", Essential: true, F: func(t *testing.T, ctx context.Context) {
			checkNodes(t, ctx, cs)
		}},
		{Name: "pod: non-root, read-only root, native sidecar first, PVC", Essential: true, F: func(t *testing.T, ctx context.Context) {
			runProbe(t, ctx, cs)
		}},
		{Name: "Service reached by cluster DNS name from another pod", F: func(t *testing.T, ctx context.Context) {
			got := fetchThroughService(t, ctx, cs)
			want := probe.Report{UID: probeUID, RootReadOnly: true, SidecarFirst: true, VolumeRoundTrip: true, Hostname: "probe"}
			if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(probe.Report{}, "RootWriteError")); diff != "" {
				t.Errorf("what the probe saw when it started (-want +got):\n%s", diff)
			}
		}},
		{Name: "API server reached in-cluster: kubernetes Service, ServiceAccount token", F: func(t *testing.T, ctx context.Context) {
			msg := get(t, ctx, cs, "in-cluster", "https://kubernetes.default.svc.cluster.local/version", true)
			var v struct {
				GitVersion string `json:"gitVersion"`
			}
			if err := json.Unmarshal([]byte(msg), &v); err != nil {
				t.Fatalf("/version answered %q: %v", msg, err)
			}
			if v.GitVersion != "v1.37.2" {
				t.Errorf("/version gitVersion = %q, want v1.37.2", v.GitVersion)
			}
		}},
		{Name: "the operator's Deployment from base/ runs there and reconciles a Performer", F: func(t *testing.T, ctx context.Context) {
			runOperator(t, ctx, c)
		}},
		{Name: "PVC bound to a local volume on the node's disk", F: func(t *testing.T, ctx context.Context) {
			checkVolume(t, ctx, cs, dir)
		}},
		{Name: "kubectl logs through the kubelet", F: func(t *testing.T, ctx context.Context) {
			logs, err := c.Kubectl(ctx, "-n", namespace, "logs", "probe", "-c", "sidecar")
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(logs, "sidecar started") {
				t.Errorf("sidecar logs = %q, want them to say %q", logs, "sidecar started")
			}
		}},
		{Name: "examples/basic rendered by the function image (kpt fn eval, podman), applied, Ready on the node", Essential: true, F: func(t *testing.T, ctx context.Context) {
			a = newAVS(t, c, images)
			a.install(t, ctx)
		}},
		{Name: "Pod Security restricted enforced on every namespace with pods", F: func(t *testing.T, ctx context.Context) {
			a.namespaces(t, ctx)
		}},
		{Name: "executor and performer pods: UID and root filesystem as their specs say, forwarder before executor", F: func(t *testing.T, ctx context.Context) {
			a.pods(t, ctx)
		}},
		{Name: "task round trip: executor pod, forwarder, Service DNS name, performer pod", Essential: true, F: func(t *testing.T, ctx context.Context) {
			a.roundTrip(t, ctx)
		}},
		{Name: "performer image change rolls the pod while tasks flow", F: func(t *testing.T, ctx context.Context) {
			a.roll(t, ctx)
		}},
		{Name: "performer pod killed: Ready again, tasks flow", F: func(t *testing.T, ctx context.Context) {
			a.killPerformer(t, ctx)
		}},
		{Name: "executor pod killed: a new Performer bound, none left behind, the volume kept", F: func(t *testing.T, ctx context.Context) {
			a.killExecutor(t, ctx)
		}},
	})

	phase("down: the node's processes, mounts, network namespaces, bridge and cgroups gone", func() error {
		downDone = true
		if err := cluster.Down(root, dir, out); err != nil {
			return err
		}
		return leftovers(dir)
	})
	if !ok {
		t.Logf("logs in %s", filepath.Join(dir, "logs"))
	}
}

// buildProbe builds nodeprobe as a static binary and writes its image as an OCI layout.
func buildProbe(ctx context.Context, root, bin, layout string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "./test/framework/node/cmd/nodeprobe")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOTOOLCHAIN=local", "GOFLAGS=-buildvcs=false")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building nodeprobe: %w\n%s", err, b)
	}
	return node.Image{Ref: probeImage, Files: map[string]string{"/nodeprobe": bin}, Entrypoint: []string{"/nodeprobe"}}.WriteLayout(layout)
}

// runOperator installs base/ as it ships, moves the controller's pod onto the real node (the
// only change: a toleration and a node selector), and checks that it runs under the restricted
// Pod Security Standard, takes the leader lease with its own ServiceAccount, and makes a
// Performer Ready (its workload lands on a KWOK node).
func runOperator(t *testing.T, ctx context.Context, c *cluster.Cluster) {
	rendered, err := cluster.Build(ctx, c.Root, filepath.Join(c.Root, "base"), false)
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(c.Dir, "base.yaml")
	if err := os.WriteFile(f, rendered, 0o644); err != nil {
		t.Fatal(err)
	}
	kubectl := func(args ...string) string {
		t.Helper()
		out, err := c.Kubectl(ctx, args...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	kubectl("apply", "--server-side", "-f", f)
	kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd/performers.hourglass.eigenlayer.io")
	t0 := time.Now()
	kubectl("-n", cluster.ControllerNamespace, "patch", "deployment/"+cluster.ControllerDeployment, "--type=strategic", "-p",
		`{"spec":{"template":{"spec":{"nodeSelector":{"kubernetes.io/hostname":"`+cluster.RealNodeName+`"},`+
			`"tolerations":[{"key":"`+cluster.RealNodeTaint+`","operator":"Exists","effect":"NoSchedule"}]}}}}`)
	kubectl("-n", cluster.ControllerNamespace, "rollout", "status", "deployment/"+cluster.ControllerDeployment, "--timeout=3m")
	t.Logf("operator Deployment available on %s %.1fs after the patch", cluster.RealNodeName, time.Since(t0).Seconds())
	pod := strings.TrimSpace(kubectl("-n", cluster.ControllerNamespace, "get", "pods", "-l", "app=hourglass-operator",
		"--field-selector=status.phase=Running", "-o", "jsonpath={.items[0].metadata.name}"))
	err = wait.PollUntilContextTimeout(ctx, time.Second, 2*time.Minute, true, func(context.Context) (bool, error) {
		holder, _ := c.Kubectl(ctx, "-n", cluster.ControllerNamespace, "get", "lease", "hourglass-operator", "-o", "jsonpath={.spec.holderIdentity}")
		return strings.HasPrefix(holder, pod+"_"), nil
	})
	if err != nil {
		t.Fatalf("pod %s never took the leader lease: %v", pod, err)
	}
	kubectl("create", "namespace", "real-node-avs")
	performer := filepath.Join(c.Dir, "performer.yaml")
	if err := os.WriteFile(performer, []byte(`apiVersion: hourglass.eigenlayer.io/v1alpha1
kind: Performer
metadata:
  name: on-real-operator
  namespace: real-node-avs
  annotations:
    # Declared, as a Performer written by hand in Git is: the controller runs nothing undeclared.
    fn.hourglass.eigenlayer.io/declaration: real-node-avs/on-real-operator
spec:
  avsAddress: "0x00000000000000000000000000000000000000f1"
  image: my-org/performer:v1.0.0
  config:
    grpcPort: 8080
`), 0o644); err != nil {
		t.Fatal(err)
	}
	t1 := time.Now()
	kubectl("apply", "-f", performer)
	kubectl("-n", "real-node-avs", "wait", "--for=condition=Ready", "--timeout=2m", "performer/on-real-operator")
	t.Logf("Performer Ready %.1fs after its creation, reconciled by the controller in pod %s", time.Since(t1).Seconds(), pod)
}

func checkNodes(t *testing.T, ctx context.Context, cs kubernetes.Interface) {
	n, err := cs.CoreV1().Nodes().Get(ctx, cluster.RealNodeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !ready(n.Status.Conditions) {
		t.Fatalf("node %s is not Ready: %+v", n.Name, n.Status.Conditions)
	}
	info := n.Status.NodeInfo
	t.Logf("node %s: kubelet %s, runtime %s, kernel %s, %s", n.Name, info.KubeletVersion, info.ContainerRuntimeVersion, info.KernelVersion, info.OSImage)
	if info.KubeletVersion != "v1.37.2" || !strings.HasPrefix(info.ContainerRuntimeVersion, "containerd://") {
		t.Errorf("node %s runs kubelet %q with runtime %q, want v1.37.2 with containerd", n.Name, info.KubeletVersion, info.ContainerRuntimeVersion)
	}
	if !cmp.Equal(n.Spec.Taints, []corev1.Taint{{Key: cluster.RealNodeTaint, Value: "true", Effect: corev1.TaintEffectNoSchedule}},
		cmpopts.IgnoreFields(corev1.Taint{}, "TimeAdded")) {
		t.Errorf("node %s taints = %+v, want only %s=true:NoSchedule", n.Name, n.Spec.Taints, cluster.RealNodeTaint)
	}
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: "type=kwok"})
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes.Items) == 0 {
		t.Fatal("no KWOK nodes")
	}
	for _, kn := range nodes.Items {
		if !ready(kn.Status.Conditions) {
			t.Errorf("KWOK node %s is not Ready beside the real node", kn.Name)
		}
	}
}

func ready(conds []corev1.NodeCondition) bool {
	for _, c := range conds {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// restricted is a container security context that passes the restricted Pod Security Standard,
// with a read-only root filesystem.
func restricted() *corev1.SecurityContext {
	return &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr.To(false),
		ReadOnlyRootFilesystem:   ptr.To(true),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
	}
}

func podSpec(containers []corev1.Container) corev1.PodSpec {
	return corev1.PodSpec{
		NodeSelector: map[string]string{"kubernetes.io/hostname": cluster.RealNodeName},
		Tolerations:  []corev1.Toleration{{Key: cluster.RealNodeTaint, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}},
		SecurityContext: &corev1.PodSecurityContext{
			RunAsNonRoot:   ptr.To(true),
			RunAsUser:      ptr.To(int64(probeUID)),
			RunAsGroup:     ptr.To(int64(probeUID)),
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		TerminationGracePeriodSeconds: ptr.To(int64(2)),
		Containers:                    containers,
	}
}

func runProbe(t *testing.T, ctx context.Context, cs kubernetes.Interface) {
	// The namespace enforces the restricted Pod Security Standard: the pods pass it for real.
	_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace,
		Labels: map[string]string{"pod-security.kubernetes.io/enforce": "restricted"}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = cs.CoreV1().PersistentVolumeClaims(namespace).Create(ctx, &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "data"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName: ptr.To(cluster.RealNodeStorageClass),
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("64Mi")}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	spec := podSpec([]corev1.Container{{
		Name:            "app",
		Image:           probeImage,
		ImagePullPolicy: corev1.PullNever,
		Args:            []string{"serve", "-addr=:8080", "-marker=/shared/sidecar-started", "-data=/data"},
		Ports:           []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
		ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromString("http")}},
			PeriodSeconds: 1},
		SecurityContext: restricted(),
		VolumeMounts:    []corev1.VolumeMount{{Name: "shared", MountPath: "/shared"}, {Name: "data", MountPath: "/data"}},
	}})
	// A native sidecar: an init container that keeps running; its startup probe passing is what
	// lets the kubelet start the main container.
	spec.InitContainers = []corev1.Container{{
		Name:            "sidecar",
		Image:           probeImage,
		ImagePullPolicy: corev1.PullNever,
		Args:            []string{"sidecar", "-marker=/shared/sidecar-started"},
		RestartPolicy:   ptr.To(corev1.ContainerRestartPolicyAlways),
		StartupProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{
			Command: []string{"/nodeprobe", "check", "-marker=/shared/sidecar-started"}}}, PeriodSeconds: 1, FailureThreshold: 30},
		SecurityContext: restricted(),
		VolumeMounts:    []corev1.VolumeMount{{Name: "shared", MountPath: "/shared"}},
	}}
	spec.Volumes = []corev1.Volume{
		{Name: "shared", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}},
	}
	spec.Hostname = "probe"
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "probe", Labels: map[string]string{"app": "probe"}}, Spec: spec}
	t0 := time.Now()
	if _, err := cs.CoreV1().Pods(namespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Services(namespace).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "probe"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "probe"},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	got := waitPod(t, ctx, cs, "probe", 3*time.Minute, func(p *corev1.Pod) bool {
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				return true
			}
		}
		return false
	})
	t.Logf("pod probe Ready %.1fs after its creation, IP %s", time.Since(t0).Seconds(), got.Status.PodIP)
	var sidecar, app *corev1.ContainerStatus
	for i := range got.Status.InitContainerStatuses {
		if got.Status.InitContainerStatuses[i].Name == "sidecar" {
			sidecar = &got.Status.InitContainerStatuses[i]
		}
	}
	for i := range got.Status.ContainerStatuses {
		if got.Status.ContainerStatuses[i].Name == "app" {
			app = &got.Status.ContainerStatuses[i]
		}
	}
	if sidecar == nil || app == nil || sidecar.State.Running == nil || app.State.Running == nil {
		t.Fatalf("want the sidecar and app containers running, got init %+v, main %+v", got.Status.InitContainerStatuses, got.Status.ContainerStatuses)
	}
	if app.State.Running.StartedAt.Before(&sidecar.State.Running.StartedAt) {
		t.Errorf("app started at %s, before its sidecar (%s)", app.State.Running.StartedAt, sidecar.State.Running.StartedAt)
	}
	if !ptr.Deref(sidecar.Started, false) {
		t.Errorf("sidecar not marked started: %+v", sidecar)
	}
}

// fetchThroughService runs a pod that GETs the probe's Service by its cluster DNS name and
// returns what it got.
func fetchThroughService(t *testing.T, ctx context.Context, cs kubernetes.Interface) probe.Report {
	msg := get(t, ctx, cs, "client", "http://probe."+namespace+".svc.cluster.local/", false)
	var r probe.Report
	if err := json.Unmarshal([]byte(msg), &r); err != nil {
		t.Fatalf("client pod's message %q: %v", msg, err)
	}
	return r
}

// get runs a pod named name that GETs url (with its ServiceAccount token and CA when sa is set)
// and returns the body, which the pod leaves as its termination message.
func get(t *testing.T, ctx context.Context, cs kubernetes.Interface, name, url string, sa bool) string {
	t.Helper()
	args := []string{"get", "-url=" + url}
	if sa {
		args = append(args, "-sa")
	}
	spec := podSpec([]corev1.Container{{
		Name:                     "get",
		Image:                    probeImage,
		ImagePullPolicy:          corev1.PullNever,
		Args:                     args,
		SecurityContext:          restricted(),
		TerminationMessagePolicy: corev1.TerminationMessageReadFile,
	}})
	spec.RestartPolicy = corev1.RestartPolicyNever
	t0 := time.Now()
	if _, err := cs.CoreV1().Pods(namespace).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	p := waitPod(t, ctx, cs, name, 3*time.Minute, func(p *corev1.Pod) bool {
		return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
	})
	msg := ""
	if len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].State.Terminated != nil {
		msg = p.Status.ContainerStatuses[0].State.Terminated.Message
	}
	if p.Status.Phase != corev1.PodSucceeded {
		t.Fatalf("pod %s %s: GET %s: %s", name, p.Status.Phase, url, msg)
	}
	t.Logf("pod %s: GET %s done %.1fs after its creation: %s", name, url, time.Since(t0).Seconds(), msg)
	return msg
}

func checkVolume(t *testing.T, ctx context.Context, cs kubernetes.Interface, dir string) {
	pvc, err := cs.CoreV1().PersistentVolumeClaims(namespace).Get(ctx, "data", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pvc.Status.Phase != corev1.ClaimBound {
		t.Fatalf("PVC data is %s, want Bound", pvc.Status.Phase)
	}
	pv, err := cs.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pv.Spec.Local == nil {
		t.Fatalf("PV %s is not a local volume: %+v", pv.Name, pv.Spec.PersistentVolumeSource)
	}
	b, err := os.ReadFile(filepath.Join(pv.Spec.Local.Path, "probe.txt"))
	if err != nil {
		t.Fatalf("the pod's file on PV %s: %v", pv.Name, err)
	}
	if got, want := string(b), "written by probe"; got != want {
		t.Errorf("PV %s holds %q, want %q", pv.Name, got, want)
	}
	if !strings.HasPrefix(pv.Spec.Local.Path, dir) {
		t.Errorf("PV %s is at %s, outside the cluster's folder %s", pv.Name, pv.Spec.Local.Path, dir)
	}
}

func waitPod(t *testing.T, ctx context.Context, cs kubernetes.Interface, name string, timeout time.Duration, done func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	var last *corev1.Pod
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		p, err := cs.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		last = p
		return done(p), nil
	})
	if err != nil {
		var events string
		if ev, eerr := cs.CoreV1().Events(namespace).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + name}); eerr == nil {
			for _, e := range ev.Items {
				events += fmt.Sprintf("\n  %s %s: %s", e.Type, e.Reason, e.Message)
			}
		}
		if last != nil {
			t.Fatalf("pod %s: %v; status %+v; events:%s", name, err, last.Status, events)
		}
		t.Fatalf("pod %s: %v; events:%s", name, err, events)
	}
	return last
}

// leftovers reports what the node left on the host after down.
func leftovers(dir string) error {
	var left []string
	if _, err := os.Stat(filepath.Join(dir, "node")); err == nil {
		left = append(left, "folder "+filepath.Join(dir, "node"))
	}
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	for _, line := range strings.Split(string(mounts), "\n") {
		if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			left = append(left, "mount "+f[4])
		}
	}
	if err := exec.Command("ip", "link", "show", "hgnode0").Run(); err == nil {
		left = append(left, "bridge hgnode0")
	}
	if netns, _ := filepath.Glob("/run/netns/cni-*"); len(netns) > 0 {
		for _, ns := range netns {
			if b, _ := exec.Command("ip", "netns", "exec", filepath.Base(ns), "ip", "-4", "-o", "addr").Output(); strings.Contains(string(b), " 10.245.0.") {
				left = append(left, "network namespace "+ns)
			}
		}
	}
	if cgs, _ := filepath.Glob("/sys/fs/cgroup/*/kubepods"); len(cgs) > 0 {
		left = append(left, "cgroups "+strings.Join(cgs, ", "))
	}
	if b, _ := exec.Command("iptables-save").Output(); strings.Contains(string(b), ":KUBE-") {
		left = append(left, "iptables chains of kube-proxy or the kubelet")
	}
	// containerd's shims carry its socket, under /run/hourglass-node-*, in their command line.
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range cmdlines {
		if b, err := os.ReadFile(f); err == nil && strings.Contains(string(b), "/run/hourglass-node-") {
			left = append(left, "process "+strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	if len(left) > 0 {
		return fmt.Errorf("left behind: %s", strings.Join(left, "; "))
	}
	return nil
}

// Package realnode runs an AVSExecutor declaration on the real node of hack/local-cluster.sh
// (docs/real-node.md), for test/node and the demo: the local images it needs (the released
// images of `make images`, the stand-in executor), the declaration pointed at them and at the
// node, the throwaway operator key Secret, and a port-forward to the executor.
package realnode

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	executor "github.com/hourglass-gitops/hourglass-gitops/test/executor"
	"github.com/hourglass-gitops/hourglass-gitops/test/framework/cluster"
	"github.com/hourglass-gitops/hourglass-gitops/test/framework/node"
)

// Image names on the node.
const (
	// ControllerImage is the controller image base/ installs and the function's default forwarder
	// image: the image `make images` builds, imported under this name.
	ControllerImage = "ghcr.io/hourglass-gitops/performer-controller:v0.1.0"
	// ExecutorRepository and ExecutorTag name the stand-in executor's image.
	ExecutorRepository = "localhost/hourglass/standin-executor"
	ExecutorTag        = "test"
	// PerformerRepository is the sample performer's image of `make images`.
	PerformerRepository = "ghcr.io/hourglass-gitops/sample-performer"
	// RolledTag is a second tag of the same sample performer image, to roll the performer.
	RolledTag = "rolled"
)

// Missing says why the real node cannot run here ("" when it can): it needs root (mounts, network
// namespaces, iptables, cgroups) and Debian's containerd, runc, ctr and iptables.
func Missing() string {
	if os.Geteuid() != 0 {
		return "not root (the real node needs mounts, network namespaces, iptables and cgroups)"
	}
	var missing []string
	for _, tool := range []string{"containerd", "runc", "ctr", "iptables", "kubectl"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) > 0 {
		return "missing " + strings.Join(missing, ", ") + " (Debian: apt-get install containerd runc containernetworking-plugins iptables conntrack)"
	}
	return ""
}

// Images are the OCI layouts to import into the node, and the sample performer's tag.
type Images struct {
	// Layouts are imported into the node's containerd.
	Layouts []string
	// FunctionArchive is the function image as an OCI archive (podman load -i), when built.
	FunctionArchive string
	// FunctionRef is the function image's name.
	FunctionRef string
	// PerformerTag is the sample performer's tag as built.
	PerformerTag string
}

var builtRe = regexp.MustCompile(`(?m)^(\S+)\s+(\S+):([^@\s]+)@sha256:`)

// BuildImages builds, under dir/images: the images of `make images` (hack/images, linux/amd64
// only, tagged with the VERSION file as base/ names them) named in names (performer-controller and
// sample-performer always; avs-executor-fn when asked), the sample performer again under
// RolledTag, and the stand-in executor.
func BuildImages(ctx context.Context, root, dir string, withFunction bool, out io.Writer) (*Images, error) {
	imgDir := filepath.Join(dir, "images")
	only := "performer-controller,sample-performer"
	if withFunction {
		only += ",avs-executor-fn"
	}
	cmd := exec.CommandContext(ctx, "go", "run", "./hack/images", "--out", filepath.Join(imgDir, "release"), "--platforms", "linux/amd64", "--only", only)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local", "GOFLAGS=-buildvcs=false")
	b, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("go run ./hack/images: %w\n%s", err, b)
	}
	fmt.Fprintf(out, "%s", b)
	im := &Images{}
	tags := map[string]string{}
	for _, m := range builtRe.FindAllStringSubmatch(string(b), -1) {
		tags[m[1]] = m[3]
		if m[1] == "avs-executor-fn" {
			im.FunctionRef = m[2] + ":" + m[3]
		}
	}
	im.PerformerTag = tags["sample-performer"]
	if im.PerformerTag == "" || tags["performer-controller"] == "" {
		return nil, fmt.Errorf("go run ./hack/images printed no tag for sample-performer or performer-controller:\n%s", b)
	}
	rel := func(name string) string { return filepath.Join(imgDir, "release", name) }
	if withFunction {
		im.FunctionArchive = rel("avs-executor-fn.tar")
	}
	if got := "ghcr.io/hourglass-gitops/performer-controller:" + tags["performer-controller"]; got != ControllerImage {
		return nil, fmt.Errorf("hack/images built %s, not %s (the name base/ and the function's default name): run make check-version", got, ControllerImage)
	}
	rolled := filepath.Join(imgDir, "sample-performer-rolled")
	if err := node.Retag(rel("sample-performer"), rolled, PerformerRepository+":"+RolledTag); err != nil {
		return nil, err
	}
	standin := filepath.Join(imgDir, "standin-executor")
	if err := executor.WriteImage(ctx, root, filepath.Join(dir, "bin", "standin-executor"), standin, ExecutorRepository+":"+ExecutorTag); err != nil {
		return nil, err
	}
	im.Layouts = []string{rel("performer-controller"), rel("sample-performer"), rolled, standin}
	return im, nil
}

// Load imports the layouts into the node's containerd.
func (im *Images) Load(ctx context.Context, c *cluster.Cluster) error {
	for _, l := range im.Layouts {
		if err := c.LoadImage(ctx, l); err != nil {
			return err
		}
	}
	return nil
}

// Declaration points an AVSExecutor declaration at the local images and the real node: the
// executor image (pulled never), the performers' image and version, both pods' scheduling onto
// the node (its taint tolerated), and the executor's volume on the node's local storage class.
// Everything else stays as declared.
func Declaration(decl []byte, performerTag string) ([]byte, error) {
	var d map[string]any
	if err := yaml.Unmarshal(decl, &d); err != nil {
		return nil, fmt.Errorf("declaration: %w", err)
	}
	spec, ok := d["spec"].(map[string]any)
	if !ok {
		return nil, errors.New("declaration: no spec")
	}
	sched := map[string]any{
		"nodeSelector": map[string]any{"kubernetes.io/hostname": cluster.RealNodeName},
		"tolerations":  []any{map[string]any{"key": cluster.RealNodeTaint, "operator": "Exists", "effect": "NoSchedule"}},
	}
	ex, _ := spec["executor"].(map[string]any)
	if ex == nil {
		ex = map[string]any{}
		spec["executor"] = ex
	}
	ex["image"] = map[string]any{"repository": ExecutorRepository, "tag": ExecutorTag, "pullPolicy": "Never"}
	ex["scheduling"] = sched
	avs, _ := spec["avs"].(map[string]any)
	list, _ := avs["supportedAvs"].([]any)
	if len(list) == 0 {
		return nil, errors.New("declaration: spec.avs.supportedAvs is empty")
	}
	for i, a := range list {
		m, ok := a.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("declaration: spec.avs.supportedAvs[%d] is no object", i)
		}
		p, _ := m["performer"].(map[string]any)
		if p == nil {
			p = map[string]any{}
			m["performer"] = p
		}
		p["image"], p["version"] = PerformerRepository, performerTag
		m["scheduling"] = sched
	}
	spec["persistence"] = map[string]any{"enabled": true, "size": "1Gi", "storageClassName": cluster.RealNodeStorageClass}
	return yaml.Marshal(d)
}

// OperatorKeysSecret creates the Secret of the operator's keys an example names, with a random
// throwaway ECDSA key: the stand-in executor signs nothing.
func OperatorKeysSecret(ctx context.Context, cs kubernetes.Interface, namespace, name string) error {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	_, err := cs.CoreV1().Secrets(namespace).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		StringData: map[string]string{"ecdsa-private-key": "0x" + hex.EncodeToString(key)},
	}, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// PortForward is a running kubectl port-forward.
type PortForward struct {
	// Addr is the local address, 127.0.0.1:<port>.
	Addr   string
	cmd    *exec.Cmd
	exited chan struct{}
}

var forwardingRe = regexp.MustCompile(`Forwarding from (127\.0\.0\.1:\d+) ->`)

// StartPortForward forwards a free local port to port of a pod (through the kubelet) until Stop.
func StartPortForward(ctx context.Context, kubeconfig, namespace, pod string, port int) (*PortForward, error) {
	cmd := exec.Command("kubectl", "--kubeconfig", kubeconfig, "-n", namespace, "port-forward", "--address=127.0.0.1", "pod/"+pod, fmt.Sprintf(":%d", port))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	found := make(chan string, 1)
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		sc := bufio.NewScanner(stdout)
		sent := false
		for sc.Scan() {
			if m := forwardingRe.FindStringSubmatch(sc.Text()); m != nil && !sent {
				found <- m[1]
				sent = true
			}
		}
		close(found)
		cmd.Wait()
	}()
	select {
	case addr, ok := <-found:
		if ok {
			return &PortForward{Addr: addr, cmd: cmd, exited: exited}, nil
		}
	case <-time.After(30 * time.Second):
	case <-ctx.Done():
	}
	cmd.Process.Kill()
	<-exited
	return nil, fmt.Errorf("kubectl port-forward pod/%s %d in %s did not start: %s", pod, port, namespace, stderr.String())
}

// Exited says the port-forward has ended (kubectl stops when the pod goes away).
func (p *PortForward) Exited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// Stop ends the port-forward.
func (p *PortForward) Stop() {
	if p == nil || p.cmd.Process == nil {
		return
	}
	p.cmd.Process.Kill()
	<-p.exited
}

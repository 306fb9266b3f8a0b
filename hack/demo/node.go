package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/hourglass-gitops/hourglass-gitops/test/executor/executorapi"
	"github.com/hourglass-gitops/hourglass-gitops/test/framework/realnode"
)

// examples/basic's names, on the real node.
const (
	nodeNamespace    = "my-avs-project"
	nodeExecutorPod  = "my-avs-executor-0"
	nodeExecutorPort = 9095
	nodeAVS          = "0x1234567890abcdef1234567890abcdef12345678"
	nodeKeysSecret   = "my-avs-operator-keys"
)

// pointAtNode points examples/basic's declaration in the GitOps repository at the real node and
// the local images, before it is rendered and committed.
func (d *demo) pointAtNode(work string) error {
	f := filepath.Join(work, "executors", nodeExample, "executor.yaml")
	b, err := os.ReadFile(f)
	if err != nil {
		return err
	}
	if b, err = realnode.Declaration(b, d.images.PerformerTag); err != nil {
		return fmt.Errorf("%s: %w", f, err)
	}
	return os.WriteFile(f, b, 0o644)
}

// prepareNode imports the images into the node's containerd and creates examples/basic's
// namespace with the operator key Secret the executor pod reads (a throwaway key: the stand-in
// signs nothing). Flux applies the rendered Namespace over it.
func (d *demo) prepareNode(ctx context.Context, out io.Writer) error {
	c := d.e.Cluster
	if err := d.images.Load(ctx, c); err != nil {
		return err
	}
	fmt.Fprintf(out, "    imported: %s, %s:%s, %s:%s\n", realnode.ControllerImage, realnode.PerformerRepository, d.images.PerformerTag,
		realnode.ExecutorRepository, realnode.ExecutorTag)
	cs, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return err
	}
	_, err = cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: nodeNamespace,
		Labels: map[string]string{"pod-security.kubernetes.io/enforce": "restricted"}}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return realnode.OperatorKeysSecret(ctx, cs, nodeNamespace, nodeKeysSecret)
}

// task sends one task to the executor pod through a port-forward and prints the round trip.
func (d *demo) task(ctx context.Context) error {
	fmt.Printf("\n==> One task: executor pod %s/%s (port-forward through the kubelet), its forwarder sidecar, the performer's Service, the performer pod\n",
		nodeNamespace, nodeExecutorPod)
	fwd, err := realnode.StartPortForward(ctx, d.e.Cluster.Kubeconfig, nodeNamespace, nodeExecutorPod, nodeExecutorPort)
	if err != nil {
		return err
	}
	defer fwd.Stop()
	conn, err := grpc.NewClient(fwd.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	t0 := time.Now()
	r, err := executorapi.SubmitTask(tctx, conn, &executorapi.TaskSubmission{TaskID: "demo-task-1", AvsAddress: nodeAVS, Payload: []byte("12")})
	took := time.Since(t0)
	if err != nil {
		return fmt.Errorf("task to %s: %w", fwd.Addr, err)
	}
	fmt.Printf("    payload 12 -> result %s in %.1f ms (task %s, operator %s)\n", r.Output, float64(took.Microseconds())/1000, r.TaskID, r.OperatorAddress)
	return nil
}

package performer_test

import (
	"strings"
	"testing"

	"github.com/fluxcd/pkg/apis/meta"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	"github.com/hourglass-gitops/hourglass-gitops/api/v1alpha1"
)

// Failures that the progress deadline would report only after 600 s are reported at once.

func waitingPod(t *testing.T, p *v1alpha1.Performer, reason, message string, restarts int32, last *corev1.ContainerStateTerminated) *corev1.Pod {
	t.Helper()
	dep := waitDeployment(t, p, "the Deployment", func(*appsv1.Deployment) bool { return true })
	pod := podFor(dep, "a")
	create(t, pod)
	setPodStatus(t, pod, corev1.PodStatus{
		Phase:      corev1.PodRunning,
		Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}, {Type: corev1.PodReady, Status: corev1.ConditionFalse}},
		ContainerStatuses: []corev1.ContainerStatus{{
			Name: "performer", Image: pod.Spec.Containers[0].Image, RestartCount: restarts,
			State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: message}},
			LastTerminationState: corev1.ContainerState{Terminated: last},
		}},
	})
	return pod
}

func TestCrashLoopIsReportedAtOnce(t *testing.T) {
	t.Parallel()
	ns := env.Namespace(t)
	p := newPerformer(ns, "crash")
	create(t, p)
	waitingPod(t, p, "CrashLoopBackOff", "back-off 40s restarting failed container=performer", 3,
		&corev1.ContainerStateTerminated{ExitCode: 2, Reason: "Error", Message: "listen tcp :8080: bind: address already in use"})
	got := waitPerformer(t, p, "CrashLoopBackOff", func(p *v1alpha1.Performer) bool {
		c := condition(p, meta.ReadyCondition)
		return c != nil && c.Reason == v1alpha1.CrashLoopBackOffReason
	})
	c := condition(got, meta.ReadyCondition)
	for _, s := range []string{"crash-1-a", "3 restarts", "exit code 2", "address already in use"} {
		if !strings.Contains(c.Message, s) {
			t.Errorf("Ready message %q does not say %q", c.Message, s)
		}
	}
	// The kubelet keeps restarting it and it may recover: in progress, not stalled.
	if r := condition(got, meta.ReconcilingCondition); r == nil || r.Status != metav1.ConditionTrue || condition(got, meta.StalledCondition) != nil {
		t.Errorf("want Reconciling and no Stalled: %s", statusString(got))
	}
	wantKstatus(t, got, status.InProgressStatus)
	waitEvent(t, p, corev1.EventTypeWarning, v1alpha1.CrashLoopBackOffReason)
}

func TestContainerConfigErrorStalls(t *testing.T) {
	t.Parallel()
	ns := env.Namespace(t)
	p := newPerformer(ns, "config")
	create(t, p)
	waitingPod(t, p, "CreateContainerConfigError", `secret "rpc" not found`, 0, nil)
	got := waitPerformer(t, p, "Stalled", isStalled(v1alpha1.CreateContainerConfigErrorReason))
	if c := condition(got, meta.ReadyCondition); c.Reason != v1alpha1.CreateContainerConfigErrorReason || !strings.Contains(c.Message, `secret "rpc" not found`) {
		t.Errorf("Ready = %+v", c)
	}
	wantKstatus(t, got, status.FailedStatus)
	waitEvent(t, p, corev1.EventTypeWarning, v1alpha1.CreateContainerConfigErrorReason)
}

func TestReplicaSetFailedCreateStalls(t *testing.T) {
	t.Parallel()
	ns := env.Namespace(t)
	p := newPerformer(ns, "refused")
	create(t, p)
	waitDeployment(t, p, "the Deployment", func(*appsv1.Deployment) bool { return true })
	refusal := `pods "performer-refused-5d4c-x" is forbidden: violates PodSecurity "restricted:latest": runAsNonRoot != true`
	setDeploymentStatus(t, p, func(d *appsv1.Deployment) {
		d.Status = appsv1.DeploymentStatus{
			ObservedGeneration: d.Generation, Replicas: 0, UnavailableReplicas: 1,
			Conditions: []appsv1.DeploymentCondition{
				{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: "ReplicaSetUpdated"},
				{Type: appsv1.DeploymentReplicaFailure, Status: corev1.ConditionTrue, Reason: "FailedCreate", Message: refusal},
			},
		}
	})
	got := waitPerformer(t, p, "Stalled", isStalled(v1alpha1.FailedCreateReason))
	if c := condition(got, meta.StalledCondition); !strings.Contains(c.Message, refusal) {
		t.Errorf("Stalled message %q does not carry the refusal", c.Message)
	}
	wantKstatus(t, got, status.FailedStatus)
	waitEvent(t, p, corev1.EventTypeWarning, v1alpha1.FailedCreateReason)
}

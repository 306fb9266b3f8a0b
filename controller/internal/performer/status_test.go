package performer

import (
	"testing"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hourglass-gitops/hourglass-gitops/api/v1alpha1"
)

var (
	t0 = metav1.NewTime(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	t1 = metav1.NewTime(t0.Add(time.Hour))
)

const (
	imgV1 = "example.com/perf:v1"
	imgV2 = "example.com/perf:v2"
)

func testPerformer(image string, st v1alpha1.PerformerStatus) *v1alpha1.Performer {
	return &v1alpha1.Performer{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", Generation: 3},
		Spec:       v1alpha1.PerformerSpec{AVSAddress: "0x1234567890abcdef1234567890abcdef12345678", Image: image},
		Status:     st,
	}
}

func deployment(generation, observed int64, replicas, updated, ready, available int32) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "performer-p", Generation: generation},
		Status: appsv1.DeploymentStatus{ObservedGeneration: observed, Replicas: replicas, UpdatedReplicas: updated,
			ReadyReplicas: ready, AvailableReplicas: available},
	}
}

func pod(name, image string, ready bool, waiting string) corev1.Pod {
	p := corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "performer", Image: image}}},
	}
	if ready {
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	}
	if waiting != "" {
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "performer", Image: image,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: waiting, Message: "no such image"}}}}
	}
	return p
}

func running(image string) v1alpha1.PerformerStatus {
	return v1alpha1.PerformerStatus{
		ObservedGeneration: 2, Phase: v1alpha1.PhaseRunning, Ready: true, CurrentImage: image, ReadyTime: &t0,
		Conditions: []metav1.Condition{{Type: meta.ReadyCondition, Status: metav1.ConditionTrue, Reason: meta.SucceededReason, LastTransitionTime: t0}},
	}
}

type outcome struct {
	Phase           v1alpha1.PerformerPhase
	Ready           bool
	CurrentImage    string
	PodName         string
	LastUpgrade     *metav1.Time
	ReadyTime       *metav1.Time
	ReadyReason     string
	Reconciling     bool
	Stalled         string
	UpgradeStarted  bool
	UpgradeFinished bool
}

func TestObserve(t *testing.T) {
	for _, tc := range []struct {
		name         string
		p            *v1alpha1.Performer
		dep          *appsv1.Deployment
		pods         []corev1.Pod
		imageChanged bool
		want         outcome
	}{
		{
			name: "first rollout, nothing yet",
			p:    testPerformer(imgV1, v1alpha1.PerformerStatus{ObservedGeneration: -1}),
			want: outcome{Phase: v1alpha1.PhasePending, ReadyReason: meta.ProgressingReason, Reconciling: true},
		},
		{
			name: "first rollout done",
			p:    testPerformer(imgV1, v1alpha1.PerformerStatus{ObservedGeneration: 1, Phase: v1alpha1.PhasePending}),
			dep:  deployment(1, 1, 1, 1, 1, 1),
			pods: []corev1.Pod{pod("b", imgV1, true, ""), pod("a", imgV1, true, "")},
			want: outcome{Phase: v1alpha1.PhaseRunning, Ready: true, CurrentImage: imgV1, PodName: "a", ReadyTime: &t1, ReadyReason: meta.SucceededReason},
		},
		{
			name: "rolled out but no ready pod of the image yet",
			p:    testPerformer(imgV1, v1alpha1.PerformerStatus{ObservedGeneration: 1, Phase: v1alpha1.PhasePending}),
			dep:  deployment(1, 1, 1, 1, 1, 1),
			pods: []corev1.Pod{pod("a", imgV1, false, "")},
			want: outcome{Phase: v1alpha1.PhasePending, ReadyReason: meta.ProgressingReason, Reconciling: true},
		},
		{
			name:         "upgrade starts with the new image",
			p:            testPerformer(imgV2, running(imgV1)),
			dep:          deployment(4, 3, 1, 1, 1, 1),
			pods:         []corev1.Pod{pod("a", imgV1, true, "")},
			imageChanged: true,
			want: outcome{Phase: v1alpha1.PhaseUpgrading, CurrentImage: imgV1, LastUpgrade: &t1, ReadyTime: &t0,
				ReadyReason: meta.ProgressingReason, Reconciling: true, UpgradeStarted: true},
		},
		{
			name: "upgrade start found again after a lost status write",
			p:    testPerformer(imgV2, running(imgV1)),
			dep:  deployment(4, 4, 2, 1, 1, 1),
			want: outcome{Phase: v1alpha1.PhaseUpgrading, CurrentImage: imgV1, LastUpgrade: &t1, ReadyTime: &t0,
				ReadyReason: meta.ProgressingReason, Reconciling: true, UpgradeStarted: true},
		},
		{
			name: "upgrade in progress keeps its start",
			p: testPerformer(imgV2, func() v1alpha1.PerformerStatus {
				s := running(imgV1)
				s.Phase, s.Ready, s.LastUpgrade = v1alpha1.PhaseUpgrading, false, &t0
				return s
			}()),
			dep:  deployment(4, 4, 2, 1, 2, 2),
			pods: []corev1.Pod{pod("a", imgV1, true, ""), pod("b", imgV2, true, "")},
			want: outcome{Phase: v1alpha1.PhaseUpgrading, CurrentImage: imgV1, LastUpgrade: &t0, ReadyTime: &t0,
				ReadyReason: meta.ProgressingReason, Reconciling: true},
		},
		{
			name: "upgrade finishes",
			p: testPerformer(imgV2, func() v1alpha1.PerformerStatus {
				s := running(imgV1)
				s.Phase, s.Ready, s.LastUpgrade = v1alpha1.PhaseUpgrading, false, &t0
				return s
			}()),
			dep:  deployment(4, 4, 1, 1, 1, 1),
			pods: []corev1.Pod{pod("b", imgV2, true, "")},
			want: outcome{Phase: v1alpha1.PhaseRunning, Ready: true, CurrentImage: imgV2, PodName: "b", LastUpgrade: &t0, ReadyTime: &t1,
				ReadyReason: meta.SucceededReason, UpgradeFinished: true},
		},
		{
			name: "image pull failure of the new image stalls",
			p:    testPerformer(imgV2, running(imgV1)),
			dep:  deployment(4, 4, 2, 1, 1, 1),
			pods: []corev1.Pod{pod("a", imgV1, true, ""), pod("b", imgV2, false, "ImagePullBackOff")},
			want: outcome{Phase: v1alpha1.PhaseFailed, CurrentImage: imgV1, LastUpgrade: &t1, ReadyTime: &t0,
				ReadyReason: v1alpha1.ImagePullFailedReason, Stalled: v1alpha1.ImagePullFailedReason, UpgradeStarted: true},
		},
		{
			name: "a failing pod of another image does not stall",
			p:    testPerformer(imgV1, running(imgV1)),
			dep:  deployment(3, 3, 1, 1, 1, 1),
			pods: []corev1.Pod{pod("a", imgV1, true, ""), pod("old", "example.com/perf:v0", false, "ErrImagePull")},
			want: outcome{Phase: v1alpha1.PhaseRunning, Ready: true, CurrentImage: imgV1, PodName: "a", ReadyTime: &t0, ReadyReason: meta.SucceededReason},
		},
		{
			name: "a pod being deleted is not the ready pod",
			p:    testPerformer(imgV1, running(imgV1)),
			dep:  deployment(3, 3, 1, 1, 1, 1),
			pods: []corev1.Pod{func() corev1.Pod { p := pod("a", imgV1, true, ""); p.DeletionTimestamp = &t0; return p }()},
			want: outcome{Phase: v1alpha1.PhasePending, ReadyTime: &t0, CurrentImage: imgV1, ReadyReason: meta.ProgressingReason, Reconciling: true},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old := tc.p.DeepCopy()
			tr := observe(tc.p, old, tc.dep, tc.pods, tc.imageChanged, t1, t1)
			st := tc.p.Status
			got := outcome{
				Phase: st.Phase, Ready: st.Ready, CurrentImage: st.CurrentImage, PodName: st.PodName,
				LastUpgrade: st.LastUpgrade, ReadyTime: st.ReadyTime,
				Reconciling:     apimeta.IsStatusConditionTrue(st.Conditions, meta.ReconcilingCondition),
				UpgradeStarted:  tr.upgradeStarted != "",
				UpgradeFinished: tr.upgradeFinished != "",
			}
			if c := apimeta.FindStatusCondition(st.Conditions, meta.ReadyCondition); c != nil {
				got.ReadyReason = c.Reason
				if (c.Status == metav1.ConditionTrue) != st.Ready {
					t.Errorf("Ready condition %s but status.ready %v", c.Status, st.Ready)
				}
			}
			if c := apimeta.FindStatusCondition(st.Conditions, meta.StalledCondition); c != nil {
				got.Stalled = c.Reason
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}

			// Observing the same world again from the new status changes nothing.
			again := tc.p.DeepCopy()
			observe(again, tc.p.DeepCopy(), tc.dep, tc.pods, false, metav1.NewTime(t1.Add(time.Hour)), metav1.NewTime(t1.Add(time.Hour)))
			if diff := cmp.Diff(tc.p.Status, again.Status); diff != "" {
				t.Errorf("a second observation changed the status (-first +second):\n%s", diff)
			}
		})
	}
}

// Every step of a rollout before the end leaves the status as the first step set it, so that a
// rollout costs one status write when it starts and one when it is done.
func TestRolloutStepsShareOneStatus(t *testing.T) {
	for _, tc := range []struct {
		name  string
		p     *v1alpha1.Performer
		steps []struct {
			dep  *appsv1.Deployment
			pods []corev1.Pod
		}
	}{
		{
			name: "first rollout",
			p:    testPerformer(imgV1, v1alpha1.PerformerStatus{ObservedGeneration: -1}),
			steps: []struct {
				dep  *appsv1.Deployment
				pods []corev1.Pod
			}{
				{nil, nil},
				{deployment(1, 0, 0, 0, 0, 0), nil},
				{deployment(1, 1, 0, 0, 0, 0), nil},
				{deployment(1, 1, 1, 1, 0, 0), []corev1.Pod{pod("a", imgV1, false, "")}},
				{deployment(1, 1, 1, 1, 0, 0), []corev1.Pod{pod("a", imgV1, true, "")}},
				{deployment(1, 1, 1, 1, 1, 0), []corev1.Pod{pod("a", imgV1, true, "")}},
			},
		},
		{
			name: "upgrade",
			p:    testPerformer(imgV2, running(imgV1)),
			steps: []struct {
				dep  *appsv1.Deployment
				pods []corev1.Pod
			}{
				{deployment(4, 3, 1, 1, 1, 1), []corev1.Pod{pod("a", imgV1, true, "")}},
				{deployment(4, 4, 2, 1, 1, 1), []corev1.Pod{pod("a", imgV1, true, ""), pod("b", imgV2, false, "")}},
				{deployment(4, 4, 2, 1, 2, 2), []corev1.Pod{pod("a", imgV1, true, ""), pod("b", imgV2, true, "")}},
				{deployment(4, 4, 1, 1, 1, 1), []corev1.Pod{pod("b", imgV2, true, "")}},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var first v1alpha1.PerformerStatus
			for i, step := range tc.steps {
				old := tc.p.DeepCopy()
				observe(tc.p, old, step.dep, step.pods, i == 0, metav1.NewTime(t1.Add(time.Duration(i)*time.Second)), metav1.NewTime(t1.Add(time.Duration(i)*time.Second)))
				if i == 0 {
					first = *tc.p.Status.DeepCopy()
					continue
				}
				if i == len(tc.steps)-1 && tc.name == "upgrade" {
					// The last step of the upgrade completes it.
					if !tc.p.Status.Ready {
						t.Fatalf("the upgrade did not complete: %+v", tc.p.Status)
					}
					continue
				}
				if diff := cmp.Diff(first, tc.p.Status); diff != "" {
					t.Errorf("step %d changed the status (-first +now):\n%s", i, diff)
				}
			}
		})
	}
}

package performer

import (
	"crypto/sha256"
	"fmt"
	"testing"

	"github.com/fluxcd/pkg/apis/meta"
	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hourglass-gitops/hourglass-gitops/api/v1alpha1"
	"github.com/hourglass-gitops/hourglass-gitops/controller/workload"
)

// What the reconciler concludes from a trimmed pod must be what it concludes from the whole pod.
func TestTrimPodKeepsWhatTheReconcilerReads(t *testing.T) {
	const image = "ghcr.io/example/performer:v1"
	full := func(name string, waiting *corev1.ContainerStateWaiting, ready corev1.ConditionStatus, scheduled *corev1.PodCondition) corev1.Pod {
		pod := corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{
				Name: name, Namespace: "ns",
				Labels:          map[string]string{workload.PerformerLabel: "p"},
				Annotations:     map[string]string{"big": string(make([]byte, 4096))},
				ManagedFields:   []metav1.ManagedFieldsEntry{{Manager: "kubelet"}},
				OwnerReferences: []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "performer-p-5d4f", UID: "u-2"}},
				GenerateName:    "performer-p-5d4f-",
			},
			Spec: corev1.PodSpec{
				Containers: []corev1.Container{{
					Name: workload.ContainerName, Image: image,
					Env:   []corev1.EnvVar{{Name: "GRPC_PORT", Value: "9090"}},
					Ports: []corev1.ContainerPort{{Name: "grpc", ContainerPort: 9090}},
				}},
				Volumes:  []corev1.Volume{{Name: "tmp"}},
				NodeName: "node-1",
			},
			Status: corev1.PodStatus{
				Phase:      corev1.PodRunning,
				Conditions: []corev1.PodCondition{{Type: corev1.PodInitialized, Status: corev1.ConditionTrue}, {Type: corev1.PodReady, Status: ready}},
				PodIP:      "10.0.0.1",
				ContainerStatuses: []corev1.ContainerStatus{{
					Name: workload.ContainerName, Image: image, RestartCount: 7,
					ContainerID: "containerd://0123", ImageID: "sha256:4567",
					VolumeMounts:         []corev1.VolumeMountStatus{{Name: "tmp", MountPath: "/tmp"}},
					State:                corev1.ContainerState{Waiting: waiting},
					LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 2, Reason: "Error"}},
				}},
			},
		}
		if scheduled != nil {
			pod.Status.Conditions = append(pod.Status.Conditions, *scheduled)
		}
		return pod
	}
	cases := map[string][]corev1.Pod{
		"ready":         {full("a", nil, corev1.ConditionTrue, nil)},
		"crash looping": {full("a", &corev1.ContainerStateWaiting{Reason: v1alpha1.CrashLoopBackOffReason}, corev1.ConditionFalse, nil)},
		"image pull":    {full("a", &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: "not found"}, corev1.ConditionFalse, nil)},
		"config error":  {full("a", &corev1.ContainerStateWaiting{Reason: v1alpha1.CreateContainerConfigErrorReason, Message: "no secret"}, corev1.ConditionFalse, nil)},
		"unschedulable": {full("a", nil, corev1.ConditionFalse, &corev1.PodCondition{
			Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable, Message: "0/3 nodes"})},
		"two pods": {full("b", nil, corev1.ConditionTrue, nil), full("a", nil, corev1.ConditionFalse, nil)},
	}
	conclude := func(pods []corev1.Pod) []string {
		reason, msg := stallOf(nil, pods)
		current := podsOfImage(pods, image)
		ready := ""
		if p := firstReadyPod(current); p != nil {
			ready = p.Name
		}
		return []string{reason, msg, crashLooping(pods), ready, podToPerformer(nil, &pods[0])[0].Name}
	}
	for name, pods := range cases {
		t.Run(name, func(t *testing.T) {
			want := conclude(pods)
			var trimmed []corev1.Pod
			for i := range pods {
				out, err := trimPod(pods[i].DeepCopy())
				if err != nil {
					t.Fatal(err)
				}
				trimmed = append(trimmed, *out.(*corev1.Pod))
			}
			if diff := cmp.Diff(want, conclude(trimmed)); diff != "" {
				t.Errorf("conclusions from the trimmed pods differ (-whole +trimmed):\n%s", diff)
			}
			if trimmed[0].Annotations != nil || trimmed[0].ManagedFields != nil || trimmed[0].Spec.Volumes != nil ||
				trimmed[0].OwnerReferences != nil || trimmed[0].GenerateName != "" {
				t.Errorf("trimmed pod still holds annotations, managed fields, volumes, owner references or a name prefix")
			}
			for _, c := range trimmed[0].Status.Conditions {
				if c.Type != corev1.PodReady && c.Type != corev1.PodScheduled {
					t.Errorf("trimmed pod still holds condition %s", c.Type)
				}
			}
			if cs := trimmed[0].Status.ContainerStatuses[0]; cs.ContainerID != "" || cs.ImageID != "" || cs.VolumeMounts != nil {
				t.Errorf("trimmed container status still holds IDs or mounts: %+v", cs)
			}
		})
	}
}

// The cache keeps the controller's own entry, with a digest for its field set, and ownerPrint
// tells the cached copy from the object as the API server returns it only when the fields differ.
func TestKeepOwnManagedFields(t *testing.T) {
	fields := []byte(`{"f:spec":{"f:ports":{"k:{\"port\":9090,\"protocol\":\"TCP\"}":{".":{},"f:name":{},"f:port":{}}}}}`)
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{UID: "u-1", ManagedFields: []metav1.ManagedFieldsEntry{
		{Manager: "kube-controller-manager"},
		{Manager: FieldManager, Operation: metav1.ManagedFieldsOperationApply, FieldsV1: &metav1.FieldsV1{Raw: fields}},
		{Manager: "kubectl-edit"},
	}}}
	out, err := keepOwnManagedFields(svc.DeepCopy())
	if err != nil {
		t.Fatal(err)
	}
	cached := out.(*corev1.Service)
	sum := sha256.Sum256(fields)
	want := []metav1.ManagedFieldsEntry{{Manager: FieldManager, Operation: metav1.ManagedFieldsOperationApply,
		FieldsV1: &metav1.FieldsV1{Raw: append([]byte(fieldsDigestPrefix), sum[:]...)}}}
	if diff := cmp.Diff(want, cached.ManagedFields); diff != "" {
		t.Errorf("managed fields (-want +got):\n%s", diff)
	}
	if ownerPrint(cached) != ownerPrint(svc) {
		t.Error("the cached copy's owner print differs from the object's")
	}
	again, err := keepOwnManagedFields(cached.DeepCopy())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(cached.ManagedFields, again.(*corev1.Service).ManagedFields); diff != "" {
		t.Errorf("trimming a cached copy again changed its managed fields (-once +twice):\n%s", diff)
	}
	other := svc.DeepCopy()
	other.ManagedFields[1].FieldsV1 = &metav1.FieldsV1{Raw: []byte(`{"f:spec":{}}`)}
	if ownerPrint(cached) == ownerPrint(other) {
		t.Error("an object whose controller-owned fields changed has the cached copy's owner print")
	}
}

// What the reconciler concludes from a trimmed Deployment must be what it concludes from the whole
// one, and a dry run that returns the whole Deployment as it is must compare unchanged to it.
func TestTrimDeploymentKeepsWhatTheReconcilerReads(t *testing.T) {
	now := metav1.Now()
	full := func(generation int64, conditions ...appsv1.DeploymentCondition) *appsv1.Deployment {
		return &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{
				Name: "performer-p", Namespace: "ns", UID: "u-1", Generation: generation,
				Labels:          map[string]string{workload.PerformerLabel: "p"},
				Annotations:     map[string]string{"deployment.kubernetes.io/revision": "2"},
				OwnerReferences: []metav1.OwnerReference{{Kind: "Performer", Name: "p", UID: "u-0", Controller: ptr(true)}},
				ManagedFields: []metav1.ManagedFieldsEntry{
					{Manager: "kube-controller-manager", Operation: metav1.ManagedFieldsOperationUpdate, Subresource: "status"},
					{Manager: FieldManager, Operation: metav1.ManagedFieldsOperationApply, APIVersion: "apps/v1", Time: &now,
						FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:spec":{"f:replicas":{}}}`)}},
				},
			},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr(int32(1)),
				Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
					Containers: []corev1.Container{{
						Name: workload.ContainerName, Image: "ghcr.io/example/performer:v2",
						Env: []corev1.EnvVar{{Name: "GRPC_PORT", Value: "9090"}},
					}},
					Volumes: []corev1.Volume{{Name: "tmp"}},
				}},
			},
			Status: appsv1.DeploymentStatus{
				ObservedGeneration: 2, Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1,
				Conditions: conditions,
			},
		}
	}
	conclude := func(dep *appsv1.Deployment) []string {
		reason, msg := stallOf(dep, nil)
		return []string{fmt.Sprint(rolledOut(dep)), reason, msg, containerImage(&dep.Spec.Template.Spec), fmt.Sprintf("%x", ownerPrint(dep))}
	}
	for name, dep := range map[string]*appsv1.Deployment{
		"rolled out":      full(2),
		"new generation":  full(3),
		"replica failure": full(2, appsv1.DeploymentCondition{Type: appsv1.DeploymentReplicaFailure, Status: corev1.ConditionTrue, Reason: "FailedCreate", Message: "forbidden"}),
		"deadline":        full(2, appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: "ProgressDeadlineExceeded", Message: "too slow"}),
	} {
		t.Run(name, func(t *testing.T) {
			out, err := trimDeployment(dep.DeepCopy())
			if err != nil {
				t.Fatal(err)
			}
			trimmed := out.(*appsv1.Deployment)
			if diff := cmp.Diff(conclude(dep), conclude(trimmed)); diff != "" {
				t.Errorf("conclusions from the trimmed Deployment differ (-whole +trimmed):\n%s", diff)
			}
			if trimmed.Annotations != nil || len(trimmed.ManagedFields) != 1 || trimmed.Spec.Template.Spec.Volumes != nil || trimmed.Spec.Template.Spec.Containers[0].Env != nil {
				t.Errorf("trimmed Deployment still holds annotations, others' managed fields, volumes or env: %+v", trimmed)
			}
			if raw := trimmed.ManagedFields[0].FieldsV1.Raw; len(raw) != len(fieldsDigestPrefix)+sha256.Size {
				t.Errorf("the cached field set is %d bytes, not a digest: %s", len(raw), raw)
			}
			if !deploymentUnchanged(trimmed, dep) {
				t.Error("the Deployment itself, as a dry run would return it, compares changed to its trimmed copy")
			}
			changed := dep.DeepCopy()
			changed.Generation++
			if deploymentUnchanged(trimmed, changed) {
				t.Error("a dry run that bumps the generation compares unchanged")
			}
			changed = dep.DeepCopy()
			changed.ManagedFields[1].FieldsV1 = &metav1.FieldsV1{Raw: []byte(`{"f:spec":{}}`)}
			if deploymentUnchanged(trimmed, changed) {
				t.Error("a dry run that changes the controller's managed fields compares unchanged")
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// What the reconciler reads of a Performer's metadata survives the trim; the managed fields and
// client-side apply's copy of the object do not.
func TestTrimPerformer(t *testing.T) {
	p := &v1alpha1.Performer{ObjectMeta: metav1.ObjectMeta{
		Name: "p", Namespace: "ns",
		Annotations: map[string]string{
			corev1.LastAppliedConfigAnnotation: `{"apiVersion":"hourglass.eigenlayer.io/v1alpha1","kind":"Performer"}`,
			meta.ReconcileRequestAnnotation:    "2026-11-30T12:00:00Z",
			v1alpha1.DeclarationAnnotation:     "my-avs-executor",
		},
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl-client-side-apply"}},
	}}
	out, err := trimPerformer(p.DeepCopy())
	if err != nil {
		t.Fatal(err)
	}
	trimmed := out.(*v1alpha1.Performer)
	requested, _ := meta.ReconcileAnnotationValue(trimmed.GetAnnotations())
	if requested != "2026-11-30T12:00:00Z" || !trimmed.Declared() {
		t.Errorf("trimmed Performer: reconcile request %q, declared %v", requested, trimmed.Declared())
	}
	want := map[string]string{meta.ReconcileRequestAnnotation: "2026-11-30T12:00:00Z", v1alpha1.DeclarationAnnotation: "my-avs-executor"}
	if diff := cmp.Diff(want, trimmed.Annotations); diff != "" || trimmed.ManagedFields != nil {
		t.Errorf("annotations (-want +got):\n%s\nmanaged fields: %v", diff, trimmed.ManagedFields)
	}
}

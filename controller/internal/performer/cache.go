package performer

import (
	"bytes"
	"crypto/sha256"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/hourglass-gitops/hourglass-gitops/api/v1alpha1"
	"github.com/hourglass-gitops/hourglass-gitops/controller/workload"
)

// CacheOptions restricts the caches of pods, Deployments and Services to performer workloads, so
// the controller does not hold every pod of the cluster in memory, and keeps of each cached object
// only what the reconciler reads. namespaces limits all watches; none means all namespaces.
func CacheOptions(namespaces []string) cache.Options {
	performers := labels.SelectorFromSet(labels.Set{workload.AppLabel: workload.AppName})
	opts := cache.Options{ByObject: map[client.Object]cache.ByObject{
		&corev1.Pod{}:         {Label: performers, Transform: trimPod},
		&appsv1.Deployment{}:  {Label: performers, Transform: trimDeployment},
		&corev1.Service{}:     {Label: performers, Transform: keepOwnManagedFields},
		&v1alpha1.Performer{}: {Transform: trimPerformer},
	}}
	if len(namespaces) > 0 {
		opts.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range namespaces {
			opts.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	return opts
}

// keepOwnManagedFields drops the managed fields of every manager but the controller: the reconciler
// compares only the fields it owns (applyOwned), and the other managers' entries (the Deployment
// controller's status, kubectl's, a GitOps engine's) are most of an object's managed fields. Of
// its own entries it keeps a digest of the field set: the reconciler only tells whether an entry
// changed (ownerPrint), and a Deployment's set, which names every field of its pod template, is
// about 1.5 KB.
func keepOwnManagedFields(obj any) (any, error) {
	o, ok := obj.(metav1.Object)
	if !ok {
		return obj, nil
	}
	var own []metav1.ManagedFieldsEntry
	for _, e := range o.GetManagedFields() {
		if e.Manager == FieldManager {
			if e.FieldsV1 != nil {
				e.FieldsV1 = &metav1.FieldsV1{Raw: fieldsDigest(e.FieldsV1)}
			}
			own = append(own, e)
		}
	}
	o.SetManagedFields(own)
	return obj, nil
}

// fieldsDigestPrefix marks a field set that the cache replaced by its digest; a field set itself
// is a JSON object.
const fieldsDigestPrefix = "sha256:"

// fieldsDigest is the digest of a managed-fields entry's field set, the same for the set and for
// its digest.
func fieldsDigest(f *metav1.FieldsV1) []byte {
	if bytes.HasPrefix(f.Raw, []byte(fieldsDigestPrefix)) {
		return f.Raw
	}
	sum := sha256.Sum256(f.Raw)
	return append([]byte(fieldsDigestPrefix), sum[:]...)
}

// trimPerformer drops a Performer's managed fields and the copy of the whole object that client-side
// apply (kubectl apply, Argo CD's default sync) keeps in an annotation; the reconciler reads only
// the reconcile-request and declaration annotations.
func trimPerformer(obj any) (any, error) {
	p, ok := obj.(*v1alpha1.Performer)
	if !ok {
		return obj, nil
	}
	p.ManagedFields = nil
	delete(p.Annotations, corev1.LastAppliedConfigAnnotation)
	return p, nil
}

// trimDeployment keeps what the reconciler reads of a performer Deployment: its identity, labels,
// owner references and generation, the controller's managed-fields entry, each container's name
// and image, and the status. The pod template is most of a Deployment's size, and whether an apply
// would change it is the API server's to say (applyOwned).
func trimDeployment(obj any) (any, error) {
	dep, ok := obj.(*appsv1.Deployment)
	if !ok {
		return obj, nil
	}
	if _, err := keepOwnManagedFields(dep); err != nil {
		return nil, err
	}
	dep.Annotations = nil
	containers := make([]corev1.Container, len(dep.Spec.Template.Spec.Containers))
	for i, c := range dep.Spec.Template.Spec.Containers {
		containers[i] = corev1.Container{Name: c.Name, Image: c.Image}
	}
	dep.Spec = appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: containers}}}
	return dep, nil
}

// trimPod keeps what the reconciler reads of a performer pod: its identity and labels, each
// container's name and image, the Ready and PodScheduled conditions and the container states it
// reports from. A pod's spec (volumes, probes, environment, affinity) and managed fields are most
// of its size.
func trimPod(obj any) (any, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil
	}
	pod.ManagedFields = nil
	pod.Annotations = nil
	pod.OwnerReferences = nil
	pod.GenerateName = ""
	containers := make([]corev1.Container, len(pod.Spec.Containers))
	for i, c := range pod.Spec.Containers {
		containers[i] = corev1.Container{Name: c.Name, Image: c.Image}
	}
	pod.Spec = corev1.PodSpec{Containers: containers, NodeName: pod.Spec.NodeName}
	var conditions []corev1.PodCondition
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady || c.Type == corev1.PodScheduled {
			conditions = append(conditions, corev1.PodCondition{Type: c.Type, Status: c.Status, Reason: c.Reason, Message: c.Message})
		}
	}
	pod.Status = corev1.PodStatus{
		Phase:                 pod.Status.Phase,
		Conditions:            conditions,
		Reason:                pod.Status.Reason,
		Message:               pod.Status.Message,
		InitContainerStatuses: trimContainerStatuses(pod.Status.InitContainerStatuses),
		ContainerStatuses:     trimContainerStatuses(pod.Status.ContainerStatuses),
	}
	return pod, nil
}

// trimContainerStatuses keeps a container's name, image, restarts, why it waits and how it last
// ended; not its IDs, resources, mounts or users.
func trimContainerStatuses(in []corev1.ContainerStatus) []corev1.ContainerStatus {
	if in == nil {
		return nil
	}
	out := make([]corev1.ContainerStatus, len(in))
	for i, cs := range in {
		out[i] = corev1.ContainerStatus{Name: cs.Name, Image: cs.Image, RestartCount: cs.RestartCount, Ready: cs.Ready}
		if w := cs.State.Waiting; w != nil {
			out[i].State.Waiting = &corev1.ContainerStateWaiting{Reason: w.Reason, Message: w.Message}
		}
		if t := cs.LastTerminationState.Terminated; t != nil {
			out[i].LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ExitCode: t.ExitCode, Reason: t.Reason, Message: t.Message}
		}
	}
	return out
}

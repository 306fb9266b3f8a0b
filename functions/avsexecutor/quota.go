package avsexecutor

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/hourglass-gitops/hourglass-gitops/api/v1alpha1"
)

// PerformerCountResource is the ResourceQuota resource that counts the Performers of a namespace.
var PerformerCountResource = corev1.ResourceName("count/performers." + v1alpha1.GroupVersion.Group)

// Pod Security labels of a Namespace the function renders: the executor and performer pods meet
// the restricted standard, and anything else started there must too.
var podSecurityLabels = map[string]string{
	"pod-security.kubernetes.io/enforce": "restricted",
	"pod-security.kubernetes.io/audit":   "restricted",
	"pod-security.kubernetes.io/warn":    "restricted",
}

// defaultMaxPerformers is the quota when the declaration sets none: the Performer rendered for
// each AVS, the one each executor pod makes for it when it starts, and one more per pod for a
// restart, which makes its Performer before the old one is gone (a crashed executor never
// deletes its own).
func defaultMaxPerformers(avss int, replicas int32) int64 {
	return int64(avss) * (1 + 2*int64(replicas))
}

// resolveBounds fills in the Performer quota of the namespace. It is opt-in: a quota on a custom
// resource admits nothing until the cluster's quota controller counts that resource, and in the
// project's local clusters it never began to count Performers created after it started, so a
// default quota would block every GitOps apply of a Performer ("status unknown for quota").
func resolveBounds(m *model) field.ErrorList {
	q := m.decl.Spec.PerformerQuota
	if q == nil || q.Enabled != nil && !*q.Enabled {
		return nil
	}
	m.maxPerformers = defaultMaxPerformers(len(m.avss), m.replicas)
	if q.MaxPerformers == nil {
		return nil
	}
	m.maxPerformers = int64(*q.MaxPerformers)
	if min := int64(len(m.avss)); m.maxPerformers < min {
		return field.ErrorList{field.Invalid(field.NewPath("spec", "performerQuota", "maxPerformers"), m.maxPerformers, fmt.Sprintf(
			"must be at least %d, the Performers rendered for the AVSs, and should leave room for those the executor pods make (the default is %d)",
			min, defaultMaxPerformers(len(m.avss), m.replicas)))}
	}
	return nil
}

// performerQuota renders the ResourceQuota that bounds the Performers of the namespace.
func (r *renderer) performerQuota() {
	if r.m.maxPerformers == 0 {
		return
	}
	r.add(&corev1.ResourceQuota{
		TypeMeta:   meta("v1", "ResourceQuota"),
		ObjectMeta: r.objectMeta(r.m.name+"-performers", "executor"),
		Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{
			PerformerCountResource: *resource.NewQuantity(r.m.maxPerformers, resource.DecimalSI),
		}},
	}, waveSupport)
}

package performer_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	"github.com/hourglass-gitops/hourglass-gitops/api/v1alpha1"
)

// The test manager allows the ServiceAccount performer-runner and judges pods at the restricted
// Pod Security level: a Performer asking for more is Stalled, its message names the evaluator's
// check and the Performer field, and it gets no Deployment.
func TestPrivilegesNotAllowedStall(t *testing.T) {
	t.Parallel()
	ns := env.Namespace(t)
	for name, tc := range map[string]struct {
		mutate func(*v1alpha1.Performer)
		want   []string // in the Ready message
	}{
		"privileged": {func(p *v1alpha1.Performer) {
			p.Spec.SecurityContext = &corev1.SecurityContext{Privileged: ptr(true)}
		}, []string{"spec.securityContext.privileged", "check privileged", "--pod-security-level=privileged"}},
		"root": {func(p *v1alpha1.Performer) {
			p.Spec.PodSecurityContext = &corev1.PodSecurityContext{RunAsUser: ptr(int64(0))}
		}, []string{"spec.podSecurityContext.runAsUser", "check runAsUser", "--pod-security-level=baseline"}},
		"sys-admin": {func(p *v1alpha1.Performer) {
			p.Spec.SecurityContext = &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"SYS_ADMIN"}}}
		}, []string{"spec.securityContext.capabilities", "check capabilities_restricted", `"SYS_ADMIN"`, "--pod-security-level=privileged"}},
		"seccomp-unconfined": {func(p *v1alpha1.Performer) {
			p.Spec.PodSecurityContext = &corev1.PodSecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}}
		}, []string{"spec.podSecurityContext.seccompProfile", "check seccompProfile_restricted", `"Unconfined"`}},
		"root-group": {func(p *v1alpha1.Performer) {
			p.Spec.PodSecurityContext = &corev1.PodSecurityContext{RunAsGroup: ptr(int64(0))}
		}, []string{"spec.podSecurityContext.runAsGroup", "check hourglass.nonRootGroups"}},
		"executor-sa": {func(p *v1alpha1.Performer) { p.Spec.Config.ServiceAccountName = "my-executor" },
			[]string{"spec.config.serviceAccountName", "--allowed-service-accounts"}},
	} {
		p := newPerformer(ns, name, tc.mutate)
		create(t, p)
		got := waitPerformer(t, p, name+" Stalled", isStalled(v1alpha1.SecurityNotAllowedReason))
		c := condition(got, meta.ReadyCondition)
		for _, w := range tc.want {
			if !strings.Contains(c.Message, w) {
				t.Errorf("%s: Ready message %q does not name %s", name, c.Message, w)
			}
		}
		wantKstatus(t, got, status.FailedStatus)
		waitEvent(t, p, corev1.EventTypeWarning, v1alpha1.SecurityNotAllowedReason)
		time.Sleep(100 * time.Millisecond)
		if err := k.Get(context.Background(), workloadKey(p), &appsv1.Deployment{}); !apierrors.IsNotFound(err) {
			t.Errorf("%s: a Deployment exists (Get: %v)", name, err)
		}
	}
}

func TestAllowedServiceAccountAndRefinedSecurity(t *testing.T) {
	t.Parallel()
	ns := env.Namespace(t)
	p := newPerformer(ns, "runner", func(p *v1alpha1.Performer) {
		p.Spec.Config.ServiceAccountName = "performer-runner"
		p.Spec.PodSecurityContext = &corev1.PodSecurityContext{RunAsUser: ptr(int64(1000))}
		p.Spec.SecurityContext = &corev1.SecurityContext{ReadOnlyRootFilesystem: ptr(true)}
	})
	create(t, p)
	dep := waitDeployment(t, p, "the Deployment", func(*appsv1.Deployment) bool { return true })
	spec := dep.Spec.Template.Spec
	if spec.ServiceAccountName != "performer-runner" {
		t.Errorf("serviceAccountName = %q", spec.ServiceAccountName)
	}
	psc, sc := spec.SecurityContext, spec.Containers[0].SecurityContext
	if psc.RunAsUser == nil || *psc.RunAsUser != 1000 || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.SeccompProfile == nil {
		t.Errorf("pod security context %+v: want runAsUser 1000 on top of runAsNonRoot and RuntimeDefault seccomp", psc)
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.Capabilities == nil {
		t.Errorf("container security context %+v: want readOnlyRootFilesystem on top of the defaults", sc)
	}
}

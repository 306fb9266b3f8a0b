package workload

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"

	"github.com/hourglass-gitops/hourglass-gitops/api/v1alpha1"
)

func TestSecurityContextsRefineTheDefaults(t *testing.T) {
	p := performer()
	p.Spec.SecurityContext = &corev1.SecurityContext{
		ReadOnlyRootFilesystem: ptr(true),
		Capabilities:           &corev1.Capabilities{Add: []corev1.Capability{"NET_BIND_SERVICE"}},
	}
	p.Spec.PodSecurityContext = &corev1.PodSecurityContext{
		RunAsUser:      ptr(int64(1000)),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeLocalhost, LocalhostProfile: ptr("perf.json")},
	}
	sc, err := securityContext(p)
	if err != nil {
		t.Fatal(err)
	}
	wantSC := &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr(false),
		ReadOnlyRootFilesystem:   ptr(true),
		Capabilities:             &corev1.Capabilities{Add: []corev1.Capability{"NET_BIND_SERVICE"}, Drop: []corev1.Capability{"ALL"}},
	}
	if diff := cmp.Diff(wantSC, sc); diff != "" {
		t.Errorf("securityContext (-want +got):\n%s", diff)
	}
	psc, err := podSecurityContext(p)
	if err != nil {
		t.Fatal(err)
	}
	wantPSC := &corev1.PodSecurityContext{
		RunAsNonRoot:   ptr(true),
		RunAsUser:      ptr(int64(1000)),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeLocalhost, LocalhostProfile: ptr("perf.json")},
	}
	if diff := cmp.Diff(wantPSC, psc); diff != "" {
		t.Errorf("podSecurityContext (-want +got):\n%s", diff)
	}
	// The defaults themselves are left as they were.
	if len(defaultSecurityContext.Capabilities.Add) != 0 || defaultPodSecurityContext.RunAsUser != nil {
		t.Error("overlaying changed the defaults")
	}
}

func TestCheckSecurity(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*v1alpha1.Performer)
		allow  Allowance
		want   []string // fields refused
	}{
		{name: "defaults", mutate: func(*v1alpha1.Performer) {}},
		{name: "the default ServiceAccount", mutate: func(p *v1alpha1.Performer) { p.Spec.Config.ServiceAccountName = "default" }},
		{name: "privileged and root", mutate: func(p *v1alpha1.Performer) {
			p.Spec.SecurityContext = &corev1.SecurityContext{Privileged: ptr(true), AllowPrivilegeEscalation: ptr(true), RunAsUser: ptr(int64(0)), RunAsNonRoot: ptr(false)}
			p.Spec.PodSecurityContext = &corev1.PodSecurityContext{RunAsUser: ptr(int64(0)), RunAsNonRoot: ptr(false)}
		}, want: []string{
			"spec.securityContext.privileged", "spec.securityContext.allowPrivilegeEscalation", "spec.securityContext.runAsUser",
			"spec.securityContext.runAsNonRoot", "spec.podSecurityContext.runAsUser", "spec.podSecurityContext.runAsNonRoot",
		}},
		{name: "privileged, allowed", mutate: func(p *v1alpha1.Performer) {
			p.Spec.SecurityContext = &corev1.SecurityContext{Privileged: ptr(true)}
		}, allow: Allowance{Privileged: true}},
		{name: "a non-root user is fine", mutate: func(p *v1alpha1.Performer) {
			p.Spec.PodSecurityContext = &corev1.PodSecurityContext{RunAsUser: ptr(int64(1000))}
		}},
		{name: "another ServiceAccount", mutate: func(p *v1alpha1.Performer) { p.Spec.Config.ServiceAccountName = "executor" },
			want: []string{"spec.config.serviceAccountName"}},
		{name: "a listed ServiceAccount", mutate: func(p *v1alpha1.Performer) { p.Spec.Config.ServiceAccountName = "irsa" },
			allow: Allowance{ServiceAccounts: []string{"irsa"}}},
		{name: "any ServiceAccount", mutate: func(p *v1alpha1.Performer) { p.Spec.Config.ServiceAccountName = "irsa" },
			allow: Allowance{ServiceAccounts: []string{"*"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := performer()
			tc.mutate(p)
			var got []string
			for _, err := range CheckSecurity(p, tc.allow) {
				field, _, _ := strings.Cut(err.Error(), ":")
				got = append(got, field)
				if !strings.Contains(err.Error(), "--allow") {
					t.Errorf("%v does not name the flag that allows it", err)
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("refused fields (-want +got):\n%s", diff)
			}
		})
	}
}

package workload

import (
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/hourglass-gitops/hourglass-gitops/api/v1alpha1"
)

// The hardened defaults of every performer pod: what Pod Security's restricted level asks for.
// spec.podSecurityContext and spec.securityContext refine them field by field.
var (
	defaultPodSecurityContext = corev1.PodSecurityContext{
		RunAsNonRoot:   ptr(true),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
	defaultSecurityContext = corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr(false),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
	}
)

// Allowance is what a Performer may ask for beyond the hardened defaults; the controller's flags
// set it.
type Allowance struct {
	// Privileged allows privileged containers, privilege escalation and running as root.
	Privileged bool
	// ServiceAccounts the performer pod may run as besides "default"; "*" allows any.
	ServiceAccounts []string
}

// CheckSecurity reports what the Performer asks for that the allowance does not grant. The
// Performer API has no host namespace fields (hostNetwork, hostPID, hostIPC), so those cannot be
// asked for at all.
func CheckSecurity(p *v1alpha1.Performer, allow Allowance) []error {
	var errs []error
	deny := func(field, detail string) {
		errs = append(errs, fmt.Errorf("%s: %s", field, detail))
	}
	if !allow.Privileged {
		const hint = "; the controller allows it only when started with --allow-privileged-performers"
		if sc := p.Spec.SecurityContext; sc != nil {
			if sc.Privileged != nil && *sc.Privileged {
				deny("spec.securityContext.privileged", "a privileged container is not allowed"+hint)
			}
			if sc.AllowPrivilegeEscalation != nil && *sc.AllowPrivilegeEscalation {
				deny("spec.securityContext.allowPrivilegeEscalation", "privilege escalation is not allowed"+hint)
			}
			if sc.RunAsUser != nil && *sc.RunAsUser == 0 {
				deny("spec.securityContext.runAsUser", "running as root (0) is not allowed"+hint)
			}
			if sc.RunAsNonRoot != nil && !*sc.RunAsNonRoot {
				deny("spec.securityContext.runAsNonRoot", "false would let the container run as root"+hint)
			}
		}
		if psc := p.Spec.PodSecurityContext; psc != nil {
			if psc.RunAsUser != nil && *psc.RunAsUser == 0 {
				deny("spec.podSecurityContext.runAsUser", "running as root (0) is not allowed"+hint)
			}
			if psc.RunAsNonRoot != nil && !*psc.RunAsNonRoot {
				deny("spec.podSecurityContext.runAsNonRoot", "false would let the pod run as root"+hint)
			}
		}
	}
	if sa := p.Spec.Config.ServiceAccountName; sa != "" && sa != "default" && !allowed(allow.ServiceAccounts, sa) {
		deny("spec.config.serviceAccountName", fmt.Sprintf(
			"%q is not allowed: a performer runs as the namespace's default ServiceAccount unless the controller is started with --allowed-service-accounts naming it", sa))
	}
	return errs
}

func allowed(list []string, name string) bool {
	for _, a := range list {
		if a == "*" || a == name {
			return true
		}
	}
	return false
}

// podSecurityContext is the hardened default refined by spec.podSecurityContext.
func podSecurityContext(p *v1alpha1.Performer) (*corev1.PodSecurityContext, error) {
	return overlay(defaultPodSecurityContext, p.Spec.PodSecurityContext)
}

// securityContext is the hardened default refined by spec.securityContext.
func securityContext(p *v1alpha1.Performer) (*corev1.SecurityContext, error) {
	return overlay(defaultSecurityContext, p.Spec.SecurityContext)
}

// overlay sets every field the user sets over the defaults, merging nested structs field by
// field (a user's capabilities.add keeps the default drop: [ALL]); lists and values replace.
func overlay[T any](defaults T, user *T) (*T, error) {
	if user == nil {
		return &defaults, nil
	}
	var base, top map[string]any
	for _, x := range []struct {
		v   any
		out *map[string]any
	}{{defaults, &base}, {user, &top}} {
		b, err := json.Marshal(x.v)
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(b, x.out); err != nil {
			return nil, err
		}
	}
	merge(base, top)
	return Convert[T](base)
}

func merge(base, top map[string]any) {
	for k, v := range top {
		if bm, ok := base[k].(map[string]any); ok {
			if tm, ok := v.(map[string]any); ok {
				merge(bm, tm)
				continue
			}
		}
		base[k] = v
	}
}

func ptr[T any](v T) *T { return &v }

package workload

import (
	"encoding/json"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	psapi "k8s.io/pod-security-admission/api"

	"github.com/hourglass-gitops/hourglass-gitops/api/v1alpha1"
)

// The hardened defaults of every performer pod: what Pod Security's restricted level asks for,
// and a read-only root filesystem (the pod gets a writable /tmp: TmpVolume).
// spec.podSecurityContext and spec.securityContext refine them field by field.
var (
	defaultPodSecurityContext = corev1.PodSecurityContext{
		RunAsNonRoot:   ptr(true),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
	defaultSecurityContext = corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr(false),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		ReadOnlyRootFilesystem:   ptr(true),
	}
)

// Allowance is what a Performer may ask for beyond the hardened defaults; the controller's flags
// set it.
type Allowance struct {
	// Level is the Pod Security Standard every performer pod must meet (--pod-security-level);
	// empty means restricted.
	Level psapi.Level
	// ServiceAccounts the performer pod may run as besides "default"; "*" allows any.
	ServiceAccounts []string
}

// level is the allowance's Pod Security level, restricted unless set.
func (a Allowance) level() psapi.Level {
	if a.Level == "" {
		return psapi.LevelRestricted
	}
	return a.Level
}

// CheckSecurity reports what the Performer asks for that the allowance does not grant: each Pod
// Security check that the pod the controller would run fails at the allowance's level, with the
// Performer fields behind it, and a ServiceAccount not allowed. The pod judged is the Deployment's
// pod template with its metadata, the hardened defaults refined by the Performer included. A
// Performer whose Deployment cannot be built passes: building it fails later, with its own error.
func CheckSecurity(p *v1alpha1.Performer, allow Allowance) []error {
	var errs []error
	if dep, err := Deployment(p); err == nil && dep.Spec != nil && dep.Spec.Template != nil {
		errs = append(errs, checkPod(p, dep.Spec.Template, allow.level())...)
	}
	if sa := p.Spec.Config.ServiceAccountName; sa != "" && sa != "default" && !allowed(allow.ServiceAccounts, sa) {
		errs = append(errs, fmt.Errorf("spec.config.serviceAccountName: %q is not allowed: a performer runs as the namespace's default ServiceAccount unless the controller is started with --allowed-service-accounts naming it", sa))
	}
	return errs
}

func checkPod(p *v1alpha1.Performer, tmpl *corev1ac.PodTemplateSpecApplyConfiguration, level psapi.Level) []error {
	pod, err := Convert[corev1.PodTemplateSpec](tmpl)
	if err != nil {
		return []error{fmt.Errorf("spec: the performer pod cannot be judged: %w", err)}
	}
	violations := PodSecurity(level, &pod.ObjectMeta, &pod.Spec)
	if len(violations) == 0 {
		return nil
	}
	performer, err := asMap(p)
	if err != nil {
		return []error{fmt.Errorf("spec: the performer cannot be read: %w", err)}
	}
	errs := make([]error, 0, len(violations))
	for _, v := range violations {
		errs = append(errs, fmt.Errorf("%s: Pod Security %q %s; change the field, or start the controller with --pod-security-level=%s",
			strings.Join(fieldsToChange(performer, v.Check), ", "), level, v, v.Allowed))
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

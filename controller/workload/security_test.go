package workload

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	psapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"

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

// Every field a Performer could use to escape its pod's confinement, judged by the upstream Pod
// Security evaluator at restricted and at baseline: the check IDs that refuse it, and the
// Performer field each refusal names.
func TestCheckSecurityPodSecurity(t *testing.T) {
	unconfinedAppArmor := &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeUnconfined}
	for _, tc := range []struct {
		name       string
		mutate     func(*v1alpha1.Performer)
		field      string           // the Performer field the refusals name
		restricted []policy.CheckID // refused at restricted
		baseline   []policy.CheckID // refused at baseline
	}{
		{name: "defaults", mutate: func(*v1alpha1.Performer) {}},
		{name: "SELinux type spc_t", field: "spec.podSecurityContext.seLinuxOptions", mutate: func(p *v1alpha1.Performer) {
			p.Spec.PodSecurityContext = &corev1.PodSecurityContext{SELinuxOptions: &corev1.SELinuxOptions{Type: "spc_t"}}
		}, restricted: ids("seLinuxOptions"), baseline: ids("seLinuxOptions")},
		{name: "SELinux type container_t", mutate: func(p *v1alpha1.Performer) {
			p.Spec.SecurityContext = &corev1.SecurityContext{SELinuxOptions: &corev1.SELinuxOptions{Type: "container_t"}}
		}},
		{name: "seccomp Unconfined", field: "spec.podSecurityContext.seccompProfile", mutate: func(p *v1alpha1.Performer) {
			p.Spec.PodSecurityContext = &corev1.PodSecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}}
		}, restricted: ids("seccompProfile_restricted"), baseline: ids("seccompProfile_baseline")},
		{name: "container seccomp Unconfined", field: "spec.securityContext.seccompProfile", mutate: func(p *v1alpha1.Performer) {
			p.Spec.SecurityContext = &corev1.SecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}}
		}, restricted: ids("seccompProfile_restricted"), baseline: ids("seccompProfile_baseline")},
		{name: "AppArmor Unconfined", field: "spec.securityContext.appArmorProfile", mutate: func(p *v1alpha1.Performer) {
			p.Spec.SecurityContext = &corev1.SecurityContext{AppArmorProfile: unconfinedAppArmor}
		}, restricted: ids("appArmorProfile"), baseline: ids("appArmorProfile")},
		{name: "pod AppArmor Unconfined", field: "spec.podSecurityContext.appArmorProfile", mutate: func(p *v1alpha1.Performer) {
			p.Spec.PodSecurityContext = &corev1.PodSecurityContext{AppArmorProfile: unconfinedAppArmor}
		}, restricted: ids("appArmorProfile"), baseline: ids("appArmorProfile")},
		{name: "AppArmor unconfined annotation", field: "spec.podAnnotations", mutate: func(p *v1alpha1.Performer) {
			p.Spec.PodAnnotations = map[string]string{corev1.DeprecatedAppArmorBetaContainerAnnotationKeyPrefix + ContainerName: "unconfined"}
		}, restricted: ids("appArmorProfile"), baseline: ids("appArmorProfile")},
		{name: "SYS_ADMIN", field: "spec.securityContext.capabilities", mutate: addCapability("SYS_ADMIN"),
			restricted: ids("capabilities_restricted"), baseline: ids("capabilities_baseline")},
		{name: "NET_ADMIN", field: "spec.securityContext.capabilities", mutate: addCapability("NET_ADMIN"),
			restricted: ids("capabilities_restricted"), baseline: ids("capabilities_baseline")},
		{name: "SYS_PTRACE", field: "spec.securityContext.capabilities", mutate: addCapability("SYS_PTRACE"),
			restricted: ids("capabilities_restricted"), baseline: ids("capabilities_baseline")},
		{name: "NET_BIND_SERVICE", mutate: addCapability("NET_BIND_SERVICE")},
		{name: "CHOWN, in baseline's default set", field: "spec.securityContext.capabilities", mutate: addCapability("CHOWN"),
			restricted: ids("capabilities_restricted")},
		{name: "runAsGroup 0", field: "spec.podSecurityContext.runAsGroup", mutate: func(p *v1alpha1.Performer) {
			p.Spec.PodSecurityContext = &corev1.PodSecurityContext{RunAsGroup: ptr(int64(0))}
		}, restricted: ids(NonRootGroupsCheckID)},
		{name: "container runAsGroup 0", field: "spec.securityContext.runAsGroup", mutate: func(p *v1alpha1.Performer) {
			p.Spec.SecurityContext = &corev1.SecurityContext{RunAsGroup: ptr(int64(0))}
		}, restricted: ids(NonRootGroupsCheckID)},
		{name: "supplemental group 0", field: "spec.podSecurityContext.supplementalGroups", mutate: func(p *v1alpha1.Performer) {
			p.Spec.PodSecurityContext = &corev1.PodSecurityContext{SupplementalGroups: []int64{1000, 0}}
		}, restricted: ids(NonRootGroupsCheckID)},
		{name: "fsGroup 0", field: "spec.podSecurityContext.fsGroup", mutate: func(p *v1alpha1.Performer) {
			p.Spec.PodSecurityContext = &corev1.PodSecurityContext{FSGroup: ptr(int64(0))}
		}, restricted: ids(NonRootGroupsCheckID)},
		{name: "non-root groups", mutate: func(p *v1alpha1.Performer) {
			p.Spec.PodSecurityContext = &corev1.PodSecurityContext{RunAsGroup: ptr(int64(1000)), SupplementalGroups: []int64{1000}, FSGroup: ptr(int64(1000))}
		}},
		{name: "unsafe sysctl", field: "spec.podSecurityContext.sysctls", mutate: func(p *v1alpha1.Performer) {
			p.Spec.PodSecurityContext = &corev1.PodSecurityContext{Sysctls: []corev1.Sysctl{{Name: "kernel.msgmax", Value: "65536"}}}
		}, restricted: ids("sysctls"), baseline: ids("sysctls")},
		{name: "safe sysctl", mutate: func(p *v1alpha1.Performer) {
			p.Spec.PodSecurityContext = &corev1.PodSecurityContext{Sysctls: []corev1.Sysctl{{Name: "net.ipv4.ip_unprivileged_port_start", Value: "0"}}}
		}},
		{name: "privileged", field: "spec.securityContext.privileged", mutate: func(p *v1alpha1.Performer) {
			p.Spec.SecurityContext = &corev1.SecurityContext{Privileged: ptr(true)}
		}, restricted: ids("privileged"), baseline: ids("privileged")},
		{name: "privilege escalation", field: "spec.securityContext.allowPrivilegeEscalation", mutate: func(p *v1alpha1.Performer) {
			p.Spec.SecurityContext = &corev1.SecurityContext{AllowPrivilegeEscalation: ptr(true)}
		}, restricted: ids("allowPrivilegeEscalation")},
		{name: "root", field: "spec.podSecurityContext.runAsUser", mutate: func(p *v1alpha1.Performer) {
			p.Spec.PodSecurityContext = &corev1.PodSecurityContext{RunAsUser: ptr(int64(0))}
		}, restricted: ids("runAsUser")},
		{name: "runAsNonRoot false", field: "spec.securityContext.runAsNonRoot", mutate: func(p *v1alpha1.Performer) {
			p.Spec.SecurityContext = &corev1.SecurityContext{RunAsNonRoot: ptr(false)}
		}, restricted: ids("runAsNonRoot")},
		{name: "unprivileged procMount", field: "spec.securityContext.procMount", mutate: func(p *v1alpha1.Performer) {
			p.Spec.SecurityContext = &corev1.SecurityContext{ProcMount: ptr(corev1.UnmaskedProcMount)}
		}, restricted: ids("procMount_restricted"), baseline: ids("procMount")},
		{name: "host probe", field: "spec.probes", mutate: func(p *v1alpha1.Performer) {
			p.Spec.Probes = &v1alpha1.Probes{Liveness: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
				TCPSocket: &corev1.TCPSocketAction{Host: "169.254.169.254", Port: intstr.FromInt32(80)}}}}
		}, restricted: ids("hostProbesAndHostLifecycle"), baseline: ids("hostProbesAndHostLifecycle")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := performer()
			tc.mutate(p)
			for _, l := range []struct {
				level psapi.Level
				want  []policy.CheckID
			}{{psapi.LevelRestricted, tc.restricted}, {psapi.LevelBaseline, tc.baseline}, {psapi.LevelPrivileged, nil}} {
				errs := CheckSecurity(p, Allowance{Level: l.level})
				var got []policy.CheckID
				for _, err := range errs {
					msg := err.Error()
					id := policy.CheckID(strings.Fields(msg[strings.Index(msg, " check ")+len(" check "):])[0])
					got = append(got, policy.CheckID(strings.TrimSuffix(string(id), ":")))
					if !strings.HasPrefix(msg, tc.field) {
						t.Errorf("at %s: %q does not start with the field %s", l.level, msg, tc.field)
					}
					// The level named is the one that lets the Performer through.
					allowing := psapi.LevelPrivileged
					if len(tc.baseline) == 0 {
						allowing = psapi.LevelBaseline
					}
					if !strings.HasSuffix(msg, "--pod-security-level="+string(allowing)) {
						t.Errorf("at %s: %q does not name the level that allows it, %s", l.level, msg, allowing)
					}
				}
				if diff := cmp.Diff(l.want, got); diff != "" {
					t.Errorf("checks failed at %s (-want +got):\n%s", l.level, diff)
				}
			}
		})
	}
}

// Naming each check takes one evaluator per check; together they refuse exactly what the
// upstream registry of all checks refuses, at each level.
func TestPodSecurityAgreesWithTheUpstreamRegistry(t *testing.T) {
	upstream, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	pods := []*corev1.PodSpec{
		{Containers: []corev1.Container{{Name: "bare"}}},
		{HostNetwork: true, Containers: []corev1.Container{{Name: "c", SecurityContext: &corev1.SecurityContext{Privileged: ptr(true),
			Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"SYS_ADMIN"}}}}}},
		{SecurityContext: &corev1.PodSecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined},
			SELinuxOptions: &corev1.SELinuxOptions{Type: "spc_t"}, Sysctls: []corev1.Sysctl{{Name: "kernel.msgmax"}}},
			Containers: []corev1.Container{{Name: "c"}}},
	}
	p := performer()
	dep, err := Deployment(p)
	if err != nil {
		t.Fatal(err)
	}
	hardened, err := Convert[corev1.PodTemplateSpec](dep.Spec.Template)
	if err != nil {
		t.Fatal(err)
	}
	pods = append(pods, &hardened.Spec)
	for i, spec := range pods {
		for _, level := range []psapi.Level{psapi.LevelRestricted, psapi.LevelBaseline} {
			lv := psapi.LevelVersion{Level: level, Version: psapi.LatestVersion()}
			want := policy.AggregateCheckResults(upstream.EvaluatePod(lv, &metav1.ObjectMeta{}, spec))
			var got []string
			for _, v := range PodSecurity(level, &metav1.ObjectMeta{}, spec) {
				if v.Check != NonRootGroupsCheckID {
					got = append(got, v.Reason)
				}
			}
			if diff := cmp.Diff(want.ForbiddenReasons, got); diff != "" {
				t.Errorf("pod %d at %s: forbidden reasons (-upstream +ours):\n%s", i, level, diff)
			}
		}
	}
}

func TestCheckSecurityServiceAccounts(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*v1alpha1.Performer)
		allow  Allowance
		want   []string // fields refused
	}{
		{name: "defaults", mutate: func(*v1alpha1.Performer) {}},
		{name: "the default ServiceAccount", mutate: func(p *v1alpha1.Performer) { p.Spec.Config.ServiceAccountName = "default" }},
		{name: "another ServiceAccount", mutate: func(p *v1alpha1.Performer) { p.Spec.Config.ServiceAccountName = "executor" },
			want: []string{"spec.config.serviceAccountName"}},
		{name: "a listed ServiceAccount", mutate: func(p *v1alpha1.Performer) { p.Spec.Config.ServiceAccountName = "irsa" },
			allow: Allowance{ServiceAccounts: []string{"irsa"}}},
		{name: "any ServiceAccount", mutate: func(p *v1alpha1.Performer) { p.Spec.Config.ServiceAccountName = "irsa" },
			allow: Allowance{ServiceAccounts: []string{"*"}}},
		{name: "privileged mode does not allow ServiceAccounts", mutate: func(p *v1alpha1.Performer) { p.Spec.Config.ServiceAccountName = "executor" },
			allow: Allowance{Level: psapi.LevelPrivileged}, want: []string{"spec.config.serviceAccountName"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := performer()
			tc.mutate(p)
			var got []string
			for _, err := range CheckSecurity(p, tc.allow) {
				field, _, _ := strings.Cut(err.Error(), ":")
				got = append(got, field)
				if !strings.Contains(err.Error(), "--allowed-service-accounts") {
					t.Errorf("%v does not name the flag that allows it", err)
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("refused fields (-want +got):\n%s", diff)
			}
		})
	}
}

func ids(id ...policy.CheckID) []policy.CheckID { return id }

func addCapability(c corev1.Capability) func(*v1alpha1.Performer) {
	return func(p *v1alpha1.Performer) {
		p.Spec.SecurityContext = &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Add: []corev1.Capability{c}}}
	}
}

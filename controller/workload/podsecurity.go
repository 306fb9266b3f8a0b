package workload

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	psapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
)

// PodSecurityVersion is the Pod Security Standards version performer pods are judged at: the
// newest the evaluator knows, as a namespace labelled enforce-version: latest does.
const PodSecurityVersion = "latest"

// NonRootGroupsCheckID names the one check added to the upstream ones: the Pod Security
// Standards' "Non-root groups" control, which the standard lists as optional for restricted and
// the upstream evaluator leaves out. A performer has no reason to run with group 0, which opens
// every file of the image and of its volumes that is group-readable or -writable by root.
const NonRootGroupsCheckID policy.CheckID = "hourglass.nonRootGroups"

// Violation is one Pod Security check a performer pod fails.
type Violation struct {
	// Check is the evaluator's check ID, for example capabilities_restricted.
	Check policy.CheckID
	// Level is the lowest level whose checks do not include this one.
	Allowed psapi.Level
	// Reason and Detail are the evaluator's, as an API server's admission names them.
	Reason, Detail string
}

// String names the failed check and why it failed, with the evaluator's detail where it has one.
func (v Violation) String() string {
	s := fmt.Sprintf("check %s: %s", v.Check, v.Reason)
	if v.Detail != "" {
		s += " (" + v.Detail + ")"
	}
	return s
}

// check is one upstream check with its own evaluator, so that a failure can be named by its ID:
// the evaluator's results are anonymous.
type check struct {
	id        policy.CheckID
	level     psapi.Level
	overrides []policy.CheckID
	eval      policy.Evaluator
}

// checks are the evaluator's default checks and the non-root groups one, built once.
var checks = mustChecks(append(policy.DefaultChecks(), nonRootGroupsCheck()))

func mustChecks(all []policy.Check) []check {
	out := make([]check, 0, len(all))
	for _, c := range all {
		e, err := policy.NewEvaluator([]policy.Check{c}, nil)
		if err != nil {
			panic(fmt.Sprintf("pod security check %s: %v", c.ID, err))
		}
		// At the latest version each check runs its newest revision, and with it that
		// revision's overrides.
		out = append(out, check{id: c.ID, level: c.Level, overrides: c.Versions[len(c.Versions)-1].OverrideCheckIDs, eval: e})
	}
	// The registry's order, which admission messages follow: baseline checks, then restricted.
	slices.SortFunc(out, func(a, b check) int {
		if a.level != b.level {
			return psapi.CompareLevels(a.level, b.level)
		}
		return strings.Compare(string(a.id), string(b.id))
	})
	return out
}

// PodSecurity judges a pod at a Pod Security Standards level (version latest), as the API
// server's admission would in a namespace enforcing that level, and names each check it fails.
// Restricted runs the baseline checks but those a restricted check overrides, like the upstream
// registry.
func PodSecurity(level psapi.Level, meta *metav1.ObjectMeta, spec *corev1.PodSpec) []Violation {
	if level == psapi.LevelPrivileged {
		return nil
	}
	overridden := map[policy.CheckID]bool{}
	if level == psapi.LevelRestricted {
		for _, c := range checks {
			if c.level == psapi.LevelRestricted {
				for _, id := range c.overrides {
					overridden[id] = true
				}
			}
		}
	}
	lv := psapi.LevelVersion{Level: level, Version: psapi.LatestVersion()}
	var out []Violation
	for _, c := range checks {
		if overridden[c.id] || (level == psapi.LevelBaseline && c.level == psapi.LevelRestricted) {
			continue
		}
		for _, r := range c.eval.EvaluatePod(lv, meta, spec) {
			if !r.Allowed {
				out = append(out, Violation{Check: c.id, Allowed: allowedAt(c, meta, spec), Reason: r.ForbiddenReason, Detail: r.ForbiddenDetail})
			}
		}
	}
	return out
}

// allowedAt is the lowest level that lets a pod failing check c through: baseline for a
// restricted check, unless the baseline check it overrides fails too (SYS_ADMIN fails
// capabilities_restricted and capabilities_baseline), and privileged for a baseline check.
func allowedAt(c check, meta *metav1.ObjectMeta, spec *corev1.PodSpec) psapi.Level {
	if c.level == psapi.LevelBaseline {
		return psapi.LevelPrivileged
	}
	baseline := psapi.LevelVersion{Level: psapi.LevelBaseline, Version: psapi.LatestVersion()}
	for _, o := range checks {
		if !slices.Contains(c.overrides, o.id) {
			continue
		}
		for _, r := range o.eval.EvaluatePod(baseline, meta, spec) {
			if !r.Allowed {
				return psapi.LevelPrivileged
			}
		}
	}
	return psapi.LevelBaseline
}

// checkFields are the Performer fields that can make a pod fail each check; a violation names
// those the Performer sets, or all of them when it sets none.
var checkFields = map[policy.CheckID][]string{
	"allowPrivilegeEscalation":   {"spec.securityContext.allowPrivilegeEscalation", "spec.securityContext.privileged", "spec.securityContext.capabilities"},
	"appArmorProfile":            {"spec.podSecurityContext.appArmorProfile", "spec.securityContext.appArmorProfile", "spec.podAnnotations"},
	"capabilities_baseline":      {"spec.securityContext.capabilities"},
	"capabilities_restricted":    {"spec.securityContext.capabilities"},
	"hostProbesAndHostLifecycle": {"spec.probes"},
	"privileged":                 {"spec.securityContext.privileged"},
	"procMount":                  {"spec.securityContext.procMount", "spec.podSecurityContext.hostUsers"},
	"procMount_restricted":       {"spec.securityContext.procMount", "spec.podSecurityContext.hostUsers"},
	"runAsNonRoot":               {"spec.podSecurityContext.runAsNonRoot", "spec.securityContext.runAsNonRoot"},
	"runAsUser":                  {"spec.podSecurityContext.runAsUser", "spec.securityContext.runAsUser"},
	"seLinuxOptions":             {"spec.podSecurityContext.seLinuxOptions", "spec.securityContext.seLinuxOptions"},
	"seccompProfile_baseline":    {"spec.podSecurityContext.seccompProfile", "spec.securityContext.seccompProfile"},
	"seccompProfile_restricted":  {"spec.podSecurityContext.seccompProfile", "spec.securityContext.seccompProfile"},
	"sysctls":                    {"spec.podSecurityContext.sysctls"},
	"windowsHostProcess":         {"spec.podSecurityContext.windowsOptions", "spec.securityContext.windowsOptions"},
	NonRootGroupsCheckID: {"spec.podSecurityContext.runAsGroup", "spec.podSecurityContext.supplementalGroups",
		"spec.podSecurityContext.fsGroup", "spec.securityContext.runAsGroup"},
}

// fieldsToChange are the fields of a Performer (as a JSON object) behind a violation.
func fieldsToChange(performer map[string]any, id policy.CheckID) []string {
	candidates := checkFields[id]
	var set []string
	for _, f := range candidates {
		if isSet(performer, strings.Split(f, ".")) {
			set = append(set, f)
		}
	}
	if len(set) == 0 {
		return candidates
	}
	return set
}

func isSet(obj map[string]any, path []string) bool {
	v, ok := obj[path[0]]
	if !ok || v == nil {
		return false
	}
	if len(path) == 1 {
		return true
	}
	m, ok := v.(map[string]any)
	return ok && isSet(m, path[1:])
}

func asMap(v any) (map[string]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	return m, json.Unmarshal(b, &m)
}

// nonRootGroupsCheck is the Pod Security Standards' optional "Non-root groups" control in the
// form of an upstream check: runAsGroup, supplementalGroups and fsGroup of the pod and runAsGroup
// of each container must not be 0. It belongs to restricted.
func nonRootGroupsCheck() policy.Check {
	return policy.Check{
		ID:    NonRootGroupsCheckID,
		Level: psapi.LevelRestricted,
		Versions: []policy.VersionedCheck{{
			MinimumVersion: psapi.MajorMinorVersion(1, 0),
			CheckPod:       nonRootGroups,
		}},
	}
}

func nonRootGroups(_ *metav1.ObjectMeta, spec *corev1.PodSpec) policy.CheckResult {
	var bad []string
	root := func(id *int64) bool { return id != nil && *id == 0 }
	if sc := spec.SecurityContext; sc != nil {
		if root(sc.RunAsGroup) {
			bad = append(bad, "pod runAsGroup=0")
		}
		if slices.Contains(sc.SupplementalGroups, 0) {
			bad = append(bad, "pod supplementalGroups contains 0")
		}
		if root(sc.FSGroup) {
			bad = append(bad, "pod fsGroup=0")
		}
	}
	for _, cs := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for _, c := range cs {
			if c.SecurityContext != nil && root(c.SecurityContext.RunAsGroup) {
				bad = append(bad, fmt.Sprintf("container %q runAsGroup=0", c.Name))
			}
		}
	}
	if len(bad) == 0 {
		return policy.CheckResult{Allowed: true}
	}
	return policy.CheckResult{ForbiddenReason: "root groups", ForbiddenDetail: strings.Join(bad, ", ")}
}

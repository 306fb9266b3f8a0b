// Package profiles holds the built-in performer profiles and combines profiles with an AVS's own
// settings. Profiles state hardware requirements wherever they can, so that the hardware package
// (the mapping the Performer controller uses too) remains the one place that knows which labels,
// taints, device resources and runtime classes a technology needs.
package profiles

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	fnv1alpha1 "github.com/hourglass-gitops/hourglass-gitops/api/fn/v1alpha1"
	"github.com/hourglass-gitops/hourglass-gitops/api/hardware"
	"github.com/hourglass-gitops/hourglass-gitops/api/v1alpha1"
)

// Names of the built-in profiles that are not derived from the GPU family table.
const (
	GPU          = "gpu"
	TEESGX       = "tee-sgx"
	TEESEVSNP    = "tee-sev-snp"
	TEETDX       = "tee-tdx"
	Bottlerocket = "bottlerocket"

	// SGXTaintKey is the taint key the tee-sgx profile tolerates.
	SGXTaintKey = "sgx"
)

// Profile is a named profile and where it was defined, for messages.
type Profile struct {
	Name string
	// Origin says where the profile comes from: "built-in", a field path of the declaration or
	// a PerformerProfile resource.
	Origin string
	Spec   fnv1alpha1.PerformerProfileSpec
}

// BuiltIn returns the built-in profiles, with the Bottlerocket label and taint taken from params
// when given.
func BuiltIn(params *fnv1alpha1.ProfileParameters) map[string]Profile {
	out := map[string]Profile{}
	add := func(name, desc string, hw *v1alpha1.HardwareRequirements, sched *v1alpha1.Scheduling) {
		out[name] = Profile{Name: name, Origin: "built-in", Spec: fnv1alpha1.PerformerProfileSpec{
			Description: desc, HardwareRequirements: hw, Scheduling: sched,
		}}
	}
	add(GPU, "One NVIDIA GPU of any model.", &v1alpha1.HardwareRequirements{GPUCount: 1}, nil)
	for family, products := range hardware.GPUFamilies() {
		add(GPUFamilyProfile(family), fmt.Sprintf("One NVIDIA GPU of the %s family (%s).", family, strings.Join(products, ", ")),
			&v1alpha1.HardwareRequirements{GPUType: family, GPUCount: 1}, nil)
	}
	// SGX pools have no standard taint; the walkthrough's pools carry sgx=enabled, and tolerating
	// a taint a node does not have changes nothing.
	add(TEESGX, "Intel SGX enclave: an SGX node (tolerating an sgx taint) and enclave page cache.",
		&v1alpha1.HardwareRequirements{TEERequired: true, TEEType: v1alpha1.TEETypeSGX},
		&v1alpha1.Scheduling{Tolerations: []corev1.Toleration{{Key: SGXTaintKey, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}})
	add(TEESEVSNP, "AMD SEV-SNP confidential VM through Kata Confidential Containers.",
		&v1alpha1.HardwareRequirements{TEERequired: true, TEEType: v1alpha1.TEETypeSEVSNP}, nil)
	add(TEETDX, "Intel TDX confidential VM through Kata Confidential Containers.",
		&v1alpha1.HardwareRequirements{TEERequired: true, TEEType: v1alpha1.TEETypeTDX}, nil)

	br := BottlerocketParameters(params)
	sched := &v1alpha1.Scheduling{NodeSelector: map[string]string{br.NodeLabelKey: br.NodeLabelValue}}
	if br.TaintKey != "-" {
		sched.Tolerations = []corev1.Toleration{{
			Key: br.TaintKey, Operator: corev1.TolerationOpEqual, Value: br.TaintValue, Effect: br.TaintEffect,
		}}
	}
	add(Bottlerocket, "Bottlerocket node pool, by a node label and taint the platform team sets.", nil, sched)
	return out
}

// GPUFamilyProfile names the profile of a GPU family alias: nvidia-a100 → gpu-a100.
func GPUFamilyProfile(family string) string { return "gpu-" + strings.TrimPrefix(family, "nvidia-") }

// BottlerocketParameters fills the defaults of the Bottlerocket label and taint.
func BottlerocketParameters(params *fnv1alpha1.ProfileParameters) fnv1alpha1.BottlerocketParameters {
	var br fnv1alpha1.BottlerocketParameters
	if params != nil && params.Bottlerocket != nil {
		br = *params.Bottlerocket
	}
	if br.NodeLabelKey == "" {
		br.NodeLabelKey = hardware.BottlerocketNodeLabel
	}
	if br.NodeLabelValue == "" {
		br.NodeLabelValue = hardware.BottlerocketNodeLabelValue
	}
	if br.TaintKey == "" {
		br.TaintKey = hardware.BottlerocketTaintKey
	}
	if br.TaintValue == "" && br.TaintKey == hardware.BottlerocketTaintKey {
		br.TaintValue = hardware.BottlerocketTaintValue
	}
	if br.TaintEffect == "" {
		br.TaintEffect = corev1.TaintEffectNoSchedule
	}
	return br
}

// Names returns the sorted names of a profile set.
func Names(set map[string]Profile) []string {
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Conflict is a disagreement between profiles or a problem of the combined settings, at a field
// path relative to the AVS (for example hardwareRequirements.teeType).
type Conflict struct {
	Field   string
	Message string
}

// Settings are the hardware, scheduling and resource settings of a performer.
type Settings struct {
	HardwareRequirements *v1alpha1.HardwareRequirements
	Scheduling           *v1alpha1.Scheduling
	Resources            *corev1.ResourceRequirements
}

// Combine merges the profiles in order. Profiles must agree: two that give the same field
// different values are a conflict, whichever comes first. Tolerations add up.
func Combine(ps []Profile) (Settings, []Conflict) {
	var out Settings
	var conflicts []Conflict
	conflict := func(field string, a, b Profile, va, vb any) {
		conflicts = append(conflicts, Conflict{Field: field, Message: fmt.Sprintf(
			"profiles %q and %q disagree: %v versus %v", a.Name, b.Name, va, vb)})
	}
	hw := &v1alpha1.HardwareRequirements{}
	sched := &v1alpha1.Scheduling{}
	res := &corev1.ResourceRequirements{}
	var (
		gpuTypeFrom, gpuCountFrom, teeTypeFrom, affinityFrom, runtimeFrom, priorityFrom Profile
		labelFrom                                                                       = map[string]Profile{}
		selectorFrom                                                                    = map[string]Profile{}
		effectiveSel                                                                    = map[string]string{}
		reqFrom, limFrom                                                                = map[corev1.ResourceName]Profile{}, map[corev1.ResourceName]Profile{}
	)
	for _, p := range ps {
		if h := p.Spec.HardwareRequirements; h != nil {
			if h.GPUType != "" {
				if hw.GPUType != "" && !strings.EqualFold(hw.GPUType, h.GPUType) {
					conflict("hardwareRequirements.gpuType", gpuTypeFrom, p, hw.GPUType, h.GPUType)
				} else if hw.GPUType == "" {
					hw.GPUType, gpuTypeFrom = h.GPUType, p
				}
			}
			if h.GPUCount != 0 {
				if hw.GPUCount != 0 && hw.GPUCount != h.GPUCount {
					conflict("hardwareRequirements.gpuCount", gpuCountFrom, p, hw.GPUCount, h.GPUCount)
				} else if hw.GPUCount == 0 {
					hw.GPUCount, gpuCountFrom = h.GPUCount, p
				}
			}
			hw.TEERequired = hw.TEERequired || h.TEERequired
			if h.TEEType != "" {
				if hw.TEEType != "" && hw.TEEType != h.TEEType {
					conflict("hardwareRequirements.teeType", teeTypeFrom, p, hw.TEEType, h.TEEType)
				} else if hw.TEEType == "" {
					hw.TEEType, teeTypeFrom = h.TEEType, p
				}
			}
			for _, k := range sortedKeys(h.CustomLabels) {
				v := h.CustomLabels[k]
				if old, ok := hw.CustomLabels[k]; ok && old != v {
					conflict(fmt.Sprintf("hardwareRequirements.customLabels[%q]", k), labelFrom[k], p, old, v)
					continue
				}
				if hw.CustomLabels == nil {
					hw.CustomLabels = map[string]string{}
				}
				hw.CustomLabels[k], labelFrom[k] = v, p
			}
		}

		// A profile's node selection is what it states plus what its hardware implies, so that
		// a custom selector cannot silently contradict a hardware profile.
		own := map[string]string{}
		if p.Spec.HardwareRequirements != nil {
			for k, v := range hardware.PlacementFor(p.Spec.HardwareRequirements).NodeSelector {
				own[k] = v
			}
		}
		if s := p.Spec.Scheduling; s != nil {
			for k, v := range s.NodeSelector {
				own[k] = v
			}
		}
		for _, k := range sortedKeys(own) {
			if old, ok := effectiveSel[k]; ok && old != own[k] {
				conflict(fmt.Sprintf("scheduling.nodeSelector[%q]", k), selectorFrom[k], p, old, own[k])
				continue
			}
			effectiveSel[k], selectorFrom[k] = own[k], p
		}

		if s := p.Spec.Scheduling; s != nil {
			for _, k := range sortedKeys(s.NodeSelector) {
				if _, bad := sched.NodeSelector[k]; bad && sched.NodeSelector[k] != s.NodeSelector[k] {
					continue // reported above
				}
				if sched.NodeSelector == nil {
					sched.NodeSelector = map[string]string{}
				}
				sched.NodeSelector[k] = s.NodeSelector[k]
			}
			sched.Tolerations = addTolerations(sched.Tolerations, s.Tolerations)
			if s.Affinity != nil {
				if sched.Affinity != nil && !reflect.DeepEqual(sched.Affinity, s.Affinity) {
					conflict("scheduling.affinity", affinityFrom, p, "one affinity", "another")
				} else if sched.Affinity == nil {
					sched.Affinity, affinityFrom = s.Affinity.DeepCopy(), p
				}
			}
			if s.RuntimeClass != nil {
				if sched.RuntimeClass != nil && *sched.RuntimeClass != *s.RuntimeClass {
					conflict("scheduling.runtimeClass", runtimeFrom, p, *sched.RuntimeClass, *s.RuntimeClass)
				} else if sched.RuntimeClass == nil {
					rc := *s.RuntimeClass
					sched.RuntimeClass, runtimeFrom = &rc, p
				}
			}
			if s.PriorityClassName != "" {
				if sched.PriorityClassName != "" && sched.PriorityClassName != s.PriorityClassName {
					conflict("scheduling.priorityClassName", priorityFrom, p, sched.PriorityClassName, s.PriorityClassName)
				} else if sched.PriorityClassName == "" {
					sched.PriorityClassName, priorityFrom = s.PriorityClassName, p
				}
			}
		}

		if r := p.Spec.Resources; r != nil {
			res.Requests = addResources(res.Requests, r.Requests, "resources.requests", reqFrom, p, conflict)
			res.Limits = addResources(res.Limits, r.Limits, "resources.limits", limFrom, p, conflict)
		}
	}

	// A runtime class stated by one profile must be the one the TEE of another profile needs
	// (a custom kata-qemu-tdx next to tee-sev-snp is a mistake). A profile that states both is
	// taken at its word: that is how a provider-specific runtime class is chosen.
	if sched.RuntimeClass != nil && hw.TEEType != "" && teeTypeFrom.Name != runtimeFrom.Name {
		if rc := hardware.PlacementFor(hw).RuntimeClassName; rc != nil && *rc != *sched.RuntimeClass {
			conflict("scheduling.runtimeClass", runtimeFrom, teeTypeFrom, *sched.RuntimeClass, *rc)
		}
	}

	if !reflect.DeepEqual(*hw, v1alpha1.HardwareRequirements{}) {
		out.HardwareRequirements = hw
	}
	if !reflect.DeepEqual(*sched, v1alpha1.Scheduling{}) {
		out.Scheduling = sched
	}
	if len(res.Requests) > 0 || len(res.Limits) > 0 {
		out.Resources = res
	}
	return out, conflicts
}

// Overlay puts an AVS's own settings over the combined profile settings. The AVS's own settings
// win field by field (a node selector key, a resource name, the GPU count); tolerations add up.
func Overlay(base Settings, own Settings) Settings {
	out := Settings{}
	if base.HardwareRequirements != nil || own.HardwareRequirements != nil {
		hw := &v1alpha1.HardwareRequirements{}
		if base.HardwareRequirements != nil {
			hw = base.HardwareRequirements.DeepCopy()
		}
		if o := own.HardwareRequirements; o != nil {
			if o.GPUType != "" {
				hw.GPUType = o.GPUType
			}
			if o.GPUCount != 0 {
				hw.GPUCount = o.GPUCount
			}
			hw.TEERequired = hw.TEERequired || o.TEERequired
			if o.TEEType != "" {
				hw.TEEType = o.TEEType
			}
			for k, v := range o.CustomLabels {
				if hw.CustomLabels == nil {
					hw.CustomLabels = map[string]string{}
				}
				hw.CustomLabels[k] = v
			}
		}
		out.HardwareRequirements = hw
	}
	if base.Scheduling != nil || own.Scheduling != nil {
		s := &v1alpha1.Scheduling{}
		if base.Scheduling != nil {
			s = base.Scheduling.DeepCopy()
		}
		if o := own.Scheduling; o != nil {
			for k, v := range o.NodeSelector {
				if s.NodeSelector == nil {
					s.NodeSelector = map[string]string{}
				}
				s.NodeSelector[k] = v
			}
			s.Tolerations = addTolerations(s.Tolerations, o.Tolerations)
			if o.Affinity != nil {
				s.Affinity = o.Affinity.DeepCopy()
			}
			if o.RuntimeClass != nil {
				rc := *o.RuntimeClass
				s.RuntimeClass = &rc
			}
			if o.PriorityClassName != "" {
				s.PriorityClassName = o.PriorityClassName
			}
		}
		out.Scheduling = s
	}
	if base.Resources != nil || own.Resources != nil {
		r := &corev1.ResourceRequirements{}
		if base.Resources != nil {
			r = base.Resources.DeepCopy()
		}
		if o := own.Resources; o != nil {
			for n, q := range o.Requests {
				if r.Requests == nil {
					r.Requests = corev1.ResourceList{}
				}
				r.Requests[n] = q.DeepCopy()
			}
			for n, q := range o.Limits {
				if r.Limits == nil {
					r.Limits = corev1.ResourceList{}
				}
				r.Limits[n] = q.DeepCopy()
			}
			r.Claims = append(r.Claims, o.Claims...)
		}
		out.Resources = r
	}
	return out
}

func addTolerations(list, more []corev1.Toleration) []corev1.Toleration {
	for _, t := range more {
		dup := false
		for _, x := range list {
			if reflect.DeepEqual(x, t) {
				dup = true
				break
			}
		}
		if !dup {
			list = append(list, *t.DeepCopy())
		}
	}
	return list
}

func addResources(list, more corev1.ResourceList, field string, from map[corev1.ResourceName]Profile, p Profile,
	conflict func(string, Profile, Profile, any, any)) corev1.ResourceList {
	names := make([]string, 0, len(more))
	for n := range more {
		names = append(names, string(n))
	}
	sort.Strings(names)
	for _, n := range names {
		name := corev1.ResourceName(n)
		q := more[name]
		if old, ok := list[name]; ok {
			if old.Cmp(q) != 0 {
				conflict(fmt.Sprintf("%s[%q]", field, n), from[name], p, old.String(), q.String())
			}
			continue
		}
		if list == nil {
			list = corev1.ResourceList{}
		}
		list[name], from[name] = q.DeepCopy(), p
	}
	return list
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

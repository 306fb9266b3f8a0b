// Package profiles holds the built-in performer profiles and combines profiles with an AVS's own
// settings. Profiles state hardware requirements wherever they can, so that the hardware package
// (the mapping the Performer controller uses too) remains the one place that knows which labels,
// taints, device resources and runtime classes a technology needs.
//
// A performer's settings come from three merges, each with its own rule:
//
//  1. Combine, profiles among themselves: they must agree. The first profile to set a field (the
//     GPU type and count, the TEE type, a custom label, a node selector key — including those its
//     hardware implies —, the affinity, runtime and priority class, a resource request or limit)
//     sets it; a later profile that gives it another value is a conflict, reported as an error.
//     teeRequired and tolerations add up.
//  2. Overlay, the AVS's own settings over the combined profiles: the AVS wins, field by field
//     and key by key; tolerations add up.
//  3. hardware.Resolve, the hardware mapping (labels, device resources, runtime class) under the
//     result: what is explicit wins, the mapping fills only what is unset; tolerations are the
//     union. Resolving twice changes nothing, so the controller, which applies the mapping again,
//     agrees with what the function rendered.
package profiles

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation/field"

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

// Settings are the hardware, scheduling and resource settings of a performer.
type Settings struct {
	HardwareRequirements *v1alpha1.HardwareRequirements
	Scheduling           *v1alpha1.Scheduling
	Resources            *corev1.ResourceRequirements
}

// claim is a field's value as the first profile that set it stated it. A later profile must state
// the same value or it conflicts.
type claim[T any] struct {
	value T
	by    Profile
	set   bool
}

// offer gives the field value v from profile p: the first offer wins, a different later one is a
// conflict at path.
func (c *claim[T]) offer(path *field.Path, p Profile, v T, same func(a, b T) bool, errs *field.ErrorList) {
	switch {
	case !c.set:
		c.value, c.by, c.set = v, p, true
	case !same(c.value, v):
		*errs = append(*errs, conflict(path, c.by, p, c.value, v))
	}
}

func conflict(path *field.Path, a, b Profile, va, vb any) *field.Error {
	return field.Invalid(path, display(vb), fmt.Sprintf("profiles %q and %q disagree: %v versus %v", a.Name, b.Name, display(va), display(vb)))
}

func display(v any) any {
	if q, ok := v.(resource.Quantity); ok {
		return q.String()
	}
	return v
}

// claims is a claim per map key, for node selectors, labels and resources.
type claims[T any] map[string]*claim[T]

func (cs claims[T]) offer(path *field.Path, key string, p Profile, v T, same func(a, b T) bool, errs *field.ErrorList) {
	if cs[key] == nil {
		cs[key] = &claim[T]{}
	}
	cs[key].offer(path.Key(strconv.Quote(key)), p, v, same, errs)
}

func (cs claims[T]) values() map[string]T {
	if len(cs) == 0 {
		return nil
	}
	out := make(map[string]T, len(cs))
	for k, c := range cs {
		out[k] = c.value
	}
	return out
}

func equal[T comparable](a, b T) bool { return a == b }

// affinityText shows an affinity in a conflict message; the whole structure would not help.
type affinityText struct {
	*corev1.Affinity
	text string
}

func (a affinityText) String() string { return a.text }

// Combine merges the profiles in order (rule 1 of the package comment): profiles must agree, so
// two that give the same field different values are a conflict, whichever comes first; teeRequired
// and tolerations add up. Conflicts are reported at paths relative to the AVS (for example
// hardwareRequirements.teeType).
func Combine(ps []Profile) (Settings, field.ErrorList) {
	var errs field.ErrorList
	hwPath, schedPath, resPath := field.NewPath("hardwareRequirements"), field.NewPath("scheduling"), field.NewPath("resources")
	var (
		gpuType, teeType, runtime, priority claim[string]
		gpuCount                            claim[int32]
		affinity                            claim[affinityText]
		labels, explicitSel, effectiveSel   = claims[string]{}, claims[string]{}, claims[string]{}
		requests, limits                    = claims[resource.Quantity]{}, claims[resource.Quantity]{}
		teeRequired                         bool
		tolerations                         []corev1.Toleration
	)
	sameQuantity := func(a, b resource.Quantity) bool { return a.Cmp(b) == 0 }
	var ignored field.ErrorList // the effective node selection reports selector conflicts
	for _, p := range ps {
		if h := p.Spec.HardwareRequirements; h != nil {
			if h.GPUType != "" {
				gpuType.offer(hwPath.Child("gpuType"), p, h.GPUType, strings.EqualFold, &errs)
			}
			if h.GPUCount != 0 {
				gpuCount.offer(hwPath.Child("gpuCount"), p, h.GPUCount, equal, &errs)
			}
			teeRequired = teeRequired || h.TEERequired
			if h.TEEType != "" {
				teeType.offer(hwPath.Child("teeType"), p, string(h.TEEType), equal, &errs)
			}
			for _, k := range slices.Sorted(maps.Keys(h.CustomLabels)) {
				labels.offer(hwPath.Child("customLabels"), k, p, h.CustomLabels[k], equal, &errs)
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
		for _, k := range slices.Sorted(maps.Keys(own)) {
			effectiveSel.offer(schedPath.Child("nodeSelector"), k, p, own[k], equal, &errs)
		}

		if s := p.Spec.Scheduling; s != nil {
			for _, k := range slices.Sorted(maps.Keys(s.NodeSelector)) {
				explicitSel.offer(schedPath.Child("nodeSelector"), k, p, s.NodeSelector[k], equal, &ignored)
			}
			tolerations = addTolerations(tolerations, s.Tolerations)
			if s.Affinity != nil {
				text := "one affinity"
				if affinity.set {
					text = "another"
				}
				affinity.offer(schedPath.Child("affinity"), p, affinityText{s.Affinity, text}, func(a, b affinityText) bool {
					return reflect.DeepEqual(a.Affinity, b.Affinity)
				}, &errs)
			}
			if s.RuntimeClass != nil {
				runtime.offer(schedPath.Child("runtimeClass"), p, *s.RuntimeClass, equal, &errs)
			}
			if s.PriorityClassName != "" {
				priority.offer(schedPath.Child("priorityClassName"), p, s.PriorityClassName, equal, &errs)
			}
		}

		if r := p.Spec.Resources; r != nil {
			for _, n := range slices.Sorted(maps.Keys(r.Requests)) {
				requests.offer(resPath.Child("requests"), string(n), p, r.Requests[n], sameQuantity, &errs)
			}
			for _, n := range slices.Sorted(maps.Keys(r.Limits)) {
				limits.offer(resPath.Child("limits"), string(n), p, r.Limits[n], sameQuantity, &errs)
			}
		}
	}

	hw := &v1alpha1.HardwareRequirements{GPUType: gpuType.value, GPUCount: gpuCount.value, TEERequired: teeRequired,
		TEEType: v1alpha1.TEEType(teeType.value), CustomLabels: labels.values()}
	sched := &v1alpha1.Scheduling{NodeSelector: explicitSel.values(), Tolerations: tolerations, PriorityClassName: priority.value}
	if affinity.set {
		sched.Affinity = affinity.value.DeepCopy()
	}
	if runtime.set {
		rc := runtime.value
		sched.RuntimeClass = &rc
	}
	// A runtime class stated by one profile must be the one the TEE of another profile needs
	// (a custom kata-qemu-tdx next to tee-sev-snp is a mistake). A profile that states both is
	// taken at its word: that is how a provider-specific runtime class is chosen.
	if runtime.set && teeType.set && teeType.by.Name != runtime.by.Name {
		if rc := hardware.PlacementFor(hw).RuntimeClassName; rc != nil && *rc != runtime.value {
			errs = append(errs, conflict(schedPath.Child("runtimeClass"), runtime.by, teeType.by, runtime.value, *rc))
		}
	}

	var out Settings
	if !reflect.DeepEqual(*hw, v1alpha1.HardwareRequirements{}) {
		out.HardwareRequirements = hw
	}
	if !reflect.DeepEqual(*sched, v1alpha1.Scheduling{}) {
		out.Scheduling = sched
	}
	res := &corev1.ResourceRequirements{Requests: resourceList(requests.values()), Limits: resourceList(limits.values())}
	if len(res.Requests) > 0 || len(res.Limits) > 0 {
		out.Resources = res
	}
	return out, errs
}

func resourceList(m map[string]resource.Quantity) corev1.ResourceList {
	if len(m) == 0 {
		return nil
	}
	out := corev1.ResourceList{}
	for k, q := range m {
		out[corev1.ResourceName(k)] = q.DeepCopy()
	}
	return out
}

// Overlay puts an AVS's own settings over the combined profile settings (rule 2 of the package
// comment): the AVS's own settings win field by field (a node selector key, a resource name, the
// GPU count); tolerations add up.
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

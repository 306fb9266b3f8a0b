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

// conflict reports two profiles that give the field at path different values.
func conflict(path *field.Path, a, b Profile, va, vb any) *field.Error {
	return field.Invalid(path, display(vb), fmt.Sprintf("profiles %q and %q disagree: %v versus %v", a.Name, b.Name, display(va), display(vb)))
}

// display shows a value in a message: a quantity as written, anything else as is.
func display(v any) any {
	if q, ok := v.(resource.Quantity); ok {
		return q.String()
	}
	return v
}

// claims is a claim per map key, for node selectors, labels and resources.
type claims[T any] map[string]*claim[T]

// offer offers the value of p for entry key of a map-valued field (see claim.offer).
func (cs claims[T]) offer(path *field.Path, key string, p Profile, v T, same func(a, b T) bool, errs *field.ErrorList) {
	if cs[key] == nil {
		cs[key] = &claim[T]{}
	}
	cs[key].offer(path.Key(strconv.Quote(key)), p, v, same, errs)
}

// values is the map the claims make, nil without any.
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

// equal is == as a function, for claim.offer.
func equal[T comparable](a, b T) bool { return a == b }

// affinityText shows an affinity in a conflict message; the whole structure would not help.
type affinityText struct {
	*corev1.Affinity
	text string
}

// String is the affinity's short form for messages.
func (a affinityText) String() string { return a.text }

// Combine merges the profiles in order (rule 1 of the package comment): profiles must agree, so
// two that give the same field different values are a conflict, whichever comes first; teeRequired
// and tolerations add up. Conflicts are reported at paths relative to the AVS (for example
// hardwareRequirements.teeType).
func Combine(ps []Profile) (Settings, field.ErrorList) {
	c := &combiner{
		labels: claims[string]{}, explicitSel: claims[string]{}, effectiveSel: claims[string]{},
		requests: claims[resource.Quantity]{}, limits: claims[resource.Quantity]{},
	}
	for _, p := range ps {
		c.offerHardware(p)
		c.offerNodeSelection(p)
		c.offerScheduling(p)
		c.offerResources(p)
	}
	return c.settings(), c.errs
}

var (
	hwPath    = field.NewPath("hardwareRequirements")
	schedPath = field.NewPath("scheduling")
	resPath   = field.NewPath("resources")
)

// combiner holds what the profiles combined so far claim for each field, and the conflicts.
type combiner struct {
	errs                                field.ErrorList
	gpuType, teeType, runtime, priority claim[string]
	gpuCount                            claim[int32]
	affinity                            claim[affinityText]
	labels, explicitSel, effectiveSel   claims[string]
	requests, limits                    claims[resource.Quantity]
	teeRequired                         bool
	tolerations                         []corev1.Toleration
}

// offerHardware claims the hardware requirements of profile p.
func (c *combiner) offerHardware(p Profile) {
	h := p.Spec.HardwareRequirements
	if h == nil {
		return
	}
	if h.GPUType != "" {
		c.gpuType.offer(hwPath.Child("gpuType"), p, h.GPUType, strings.EqualFold, &c.errs)
	}
	if h.GPUCount != 0 {
		c.gpuCount.offer(hwPath.Child("gpuCount"), p, h.GPUCount, equal, &c.errs)
	}
	c.teeRequired = c.teeRequired || h.TEERequired
	if h.TEEType != "" {
		c.teeType.offer(hwPath.Child("teeType"), p, string(h.TEEType), equal, &c.errs)
	}
	for _, k := range slices.Sorted(maps.Keys(h.CustomLabels)) {
		c.labels.offer(hwPath.Child("customLabels"), k, p, h.CustomLabels[k], equal, &c.errs)
	}
}

// offerNodeSelection claims profile p's node selection: what it states plus what its hardware
// implies, so that a custom selector cannot silently contradict a hardware profile.
func (c *combiner) offerNodeSelection(p Profile) {
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
		c.effectiveSel.offer(schedPath.Child("nodeSelector"), k, p, own[k], equal, &c.errs)
	}
}

// offerScheduling claims the scheduling profile p states. Its node selector's conflicts are those
// of the node selection, reported there.
func (c *combiner) offerScheduling(p Profile) {
	s := p.Spec.Scheduling
	if s == nil {
		return
	}
	var ignored field.ErrorList
	for _, k := range slices.Sorted(maps.Keys(s.NodeSelector)) {
		c.explicitSel.offer(schedPath.Child("nodeSelector"), k, p, s.NodeSelector[k], equal, &ignored)
	}
	c.tolerations = addTolerations(c.tolerations, s.Tolerations)
	if s.Affinity != nil {
		text := "one affinity"
		if c.affinity.set {
			text = "another"
		}
		c.affinity.offer(schedPath.Child("affinity"), p, affinityText{s.Affinity, text}, func(a, b affinityText) bool {
			return reflect.DeepEqual(a.Affinity, b.Affinity)
		}, &c.errs)
	}
	if s.RuntimeClass != nil {
		c.runtime.offer(schedPath.Child("runtimeClass"), p, *s.RuntimeClass, equal, &c.errs)
	}
	if s.PriorityClassName != "" {
		c.priority.offer(schedPath.Child("priorityClassName"), p, s.PriorityClassName, equal, &c.errs)
	}
}

// offerResources claims the requests and limits of profile p.
func (c *combiner) offerResources(p Profile) {
	r := p.Spec.Resources
	if r == nil {
		return
	}
	sameQuantity := func(a, b resource.Quantity) bool { return a.Cmp(b) == 0 }
	for _, n := range slices.Sorted(maps.Keys(r.Requests)) {
		c.requests.offer(resPath.Child("requests"), string(n), p, r.Requests[n], sameQuantity, &c.errs)
	}
	for _, n := range slices.Sorted(maps.Keys(r.Limits)) {
		c.limits.offer(resPath.Child("limits"), string(n), p, r.Limits[n], sameQuantity, &c.errs)
	}
}

// settings are the combined settings, nil where no profile set any; a runtime class that does not
// fit another profile's TEE is a conflict.
func (c *combiner) settings() Settings {
	hw := &v1alpha1.HardwareRequirements{GPUType: c.gpuType.value, GPUCount: c.gpuCount.value, TEERequired: c.teeRequired,
		TEEType: v1alpha1.TEEType(c.teeType.value), CustomLabels: c.labels.values()}
	sched := &v1alpha1.Scheduling{NodeSelector: c.explicitSel.values(), Tolerations: c.tolerations, PriorityClassName: c.priority.value}
	if c.affinity.set {
		sched.Affinity = c.affinity.value.DeepCopy()
	}
	if c.runtime.set {
		rc := c.runtime.value
		sched.RuntimeClass = &rc
	}
	c.checkRuntimeClass(hw)
	var out Settings
	if !reflect.DeepEqual(*hw, v1alpha1.HardwareRequirements{}) {
		out.HardwareRequirements = hw
	}
	if !reflect.DeepEqual(*sched, v1alpha1.Scheduling{}) {
		out.Scheduling = sched
	}
	res := &corev1.ResourceRequirements{Requests: resourceList(c.requests.values()), Limits: resourceList(c.limits.values())}
	if len(res.Requests) > 0 || len(res.Limits) > 0 {
		out.Resources = res
	}
	return out
}

// checkRuntimeClass holds a runtime class stated by one profile to the one the TEE of another
// profile needs (a custom kata-qemu-tdx next to tee-sev-snp is a mistake). A profile that states
// both is taken at its word: that is how a provider-specific runtime class is chosen.
func (c *combiner) checkRuntimeClass(hw *v1alpha1.HardwareRequirements) {
	if !c.runtime.set || !c.teeType.set || c.teeType.by.Name == c.runtime.by.Name {
		return
	}
	if rc := hardware.PlacementFor(hw).RuntimeClassName; rc != nil && *rc != c.runtime.value {
		c.errs = append(c.errs, conflict(schedPath.Child("runtimeClass"), c.runtime.by, c.teeType.by, c.runtime.value, *rc))
	}
}

// resourceList turns combined quantities into a ResourceList, nil without any.
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
		out.HardwareRequirements = overlayHardware(base.HardwareRequirements, own.HardwareRequirements)
	}
	if base.Scheduling != nil || own.Scheduling != nil {
		out.Scheduling = overlayScheduling(base.Scheduling, own.Scheduling)
	}
	if base.Resources != nil || own.Resources != nil {
		out.Resources = overlayResources(base.Resources, own.Resources)
	}
	return out
}

// overlayHardware puts the AVS's own hardware requirements over the profiles'; either may be nil.
func overlayHardware(base, o *v1alpha1.HardwareRequirements) *v1alpha1.HardwareRequirements {
	hw := &v1alpha1.HardwareRequirements{}
	if base != nil {
		hw = base.DeepCopy()
	}
	if o == nil {
		return hw
	}
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
	return hw
}

// overlayScheduling puts the AVS's own scheduling over the profiles'; either may be nil.
func overlayScheduling(base, o *v1alpha1.Scheduling) *v1alpha1.Scheduling {
	s := &v1alpha1.Scheduling{}
	if base != nil {
		s = base.DeepCopy()
	}
	if o == nil {
		return s
	}
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
	return s
}

// overlayResources puts the AVS's own requests and limits over the profiles' by resource name;
// claims add up. Either may be nil.
func overlayResources(base, o *corev1.ResourceRequirements) *corev1.ResourceRequirements {
	r := &corev1.ResourceRequirements{}
	if base != nil {
		r = base.DeepCopy()
	}
	if o == nil {
		return r
	}
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
	return r
}

// addTolerations adds to list the tolerations of more it does not hold yet.
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

// Package hardware maps a Performer's hardware requirements onto Kubernetes scheduling: the node
// labels, taints, device resources and runtime classes that GPU and trusted-execution nodes carry
// in the field. The controller and the KRM function both use it, so a declaration rendered to Git
// and a Performer reconciled in the cluster always agree on where a performer may run.
//
// The mapping (docs/hardware.md holds the same table for users):
//
//	requirement         node selector / affinity                                    resources                      toleration                     runtime class
//	gpuCount N          -                                                           nvidia.com/gpu: N              nvidia.com/gpu Exists NoSched  -
//	gpuType PRODUCT     nvidia.com/gpu.product=PRODUCT (alias: affinity In family)  -                              -                              -
//	teeType sgx         intel.feature.node.kubernetes.io/sgx=true                   sgx.intel.com/epc: 10Mi        -                              -
//	teeType sev-snp     feature.node.kubernetes.io/cpu-security.sev.snp.enabled=true -                             -                              kata-qemu-snp (GPU: kata-qemu-nvidia-gpu-snp, nvidia.com/pgpu)
//	teeType tdx         feature.node.kubernetes.io/cpu-security.tdx.enabled=true    -                              -                              kata-qemu-tdx (GPU: kata-qemu-nvidia-gpu-tdx, nvidia.com/pgpu)
//	customLabels        each label                                                  -                              -                              -
package hardware

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/hourglass-gitops/hourglass-gitops/api/v1alpha1"
)

// Labels, resources and runtime classes of the technologies the mapping knows.
const (
	// NVIDIA device plugin resource and GPU Feature Discovery label.
	GPUResource       corev1.ResourceName = "nvidia.com/gpu"
	GPUProductLabel                       = "nvidia.com/gpu.product"
	GPUTaintKey                           = "nvidia.com/gpu"
	PassthroughGPURes corev1.ResourceName = "nvidia.com/pgpu"

	// Intel SGX device plugin resource and Intel's Node Feature Discovery rule label.
	SGXEPCResource corev1.ResourceName = "sgx.intel.com/epc"
	SGXNodeLabel                       = "intel.feature.node.kubernetes.io/sgx"

	// Node Feature Discovery labels of hosts that can launch confidential guests.
	SEVSNPNodeLabel = "feature.node.kubernetes.io/cpu-security.sev.snp.enabled"
	TDXNodeLabel    = "feature.node.kubernetes.io/cpu-security.tdx.enabled"

	// Kata Confidential Containers runtime classes.
	RuntimeClassSNP    = "kata-qemu-snp"
	RuntimeClassTDX    = "kata-qemu-tdx"
	RuntimeClassGPUSNP = "kata-qemu-nvidia-gpu-snp"
	RuntimeClassGPUTDX = "kata-qemu-nvidia-gpu-tdx"
	// RuntimeClassAKSCC is the confidential runtime class of AKS.
	RuntimeClassAKSCC = "kata-cc-isolation"
)

// DefaultSGXEPC is the enclave page cache a SGX performer requests unless its resources name
// sgx.intel.com/epc themselves.
var DefaultSGXEPC = resource.MustParse("10Mi")

// gpuFamilies maps a family alias to the GPU Feature Discovery product names of that family, so
// that `gpuType: nvidia-a100` matches every A100 node rather than one memory or form factor.
var gpuFamilies = map[string][]string{
	"nvidia-a10":  {"NVIDIA-A10"},
	"nvidia-a100": {"NVIDIA-A100-PCIE-40GB", "NVIDIA-A100-PCIE-80GB", "NVIDIA-A100-SXM4-40GB", "NVIDIA-A100-SXM4-80GB", "NVIDIA-A100-80GB-PCIe"},
	"nvidia-h100": {"NVIDIA-H100-80GB-HBM3", "NVIDIA-H100-PCIe", "NVIDIA-H100-NVL"},
	"nvidia-h200": {"NVIDIA-H200", "NVIDIA-H200-NVL"},
	"nvidia-l4":   {"NVIDIA-L4"},
	"nvidia-l40s": {"NVIDIA-L40S"},
	"nvidia-t4":   {"Tesla-T4"},
}

// GPUFamilies returns the known family aliases and their product names, for documentation.
func GPUFamilies() map[string][]string {
	out := make(map[string][]string, len(gpuFamilies))
	for k, v := range gpuFamilies {
		out[k] = append([]string(nil), v...)
	}
	return out
}

// confidentialRuntimeWithoutGPU lists runtime classes that run the pod in a confidential VM
// without GPU passthrough.
var confidentialRuntimeWithoutGPU = map[string]bool{
	RuntimeClassSNP: true, RuntimeClassTDX: true, RuntimeClassAKSCC: true,
}

// Placement is what hardware requirements mean for a pod.
type Placement struct {
	// NodeSelector labels the node must carry.
	NodeSelector map[string]string
	// NodeAffinity expressions the node must match (ANDed into every required term).
	NodeAffinity []corev1.NodeSelectorRequirement
	// Tolerations for the taints hardware pools carry.
	Tolerations []corev1.Toleration
	// Resources are device resources, requested and limited alike.
	Resources corev1.ResourceList
	// RuntimeClassName is the runtime class the pod needs, if any.
	RuntimeClassName *string
}

// HardwareBound reports whether the requirements tie a performer to scarce nodes (GPU or TEE).
func HardwareBound(hw *v1alpha1.HardwareRequirements) bool {
	return hw != nil && (hw.GPUCount > 0 || hw.GPUType != "" || hw.TEERequired || hw.TEEType != "")
}

// Validate reports the combinations the CRD schema cannot see or that reached the cluster before
// a schema check existed: a TEE requirement without a type, a GPU on a confidential runtime that
// cannot pass GPUs through. path is where hardwareRequirements and scheduling sit (for example
// spec); nil means the top level. Each error's Detail is a whole sentence, shown after its field.
func Validate(path *field.Path, hw *v1alpha1.HardwareRequirements, sched *v1alpha1.Scheduling) field.ErrorList {
	if hw == nil {
		return nil
	}
	hwPath := path.Child("hardwareRequirements") // a child of a nil path is a top-level path
	var errs field.ErrorList
	if hw.GPUCount < 0 {
		errs = append(errs, field.Invalid(hwPath.Child("gpuCount"), hw.GPUCount, fmt.Sprintf("must be 0 or more, got %d", hw.GPUCount)))
	}
	if hw.TEERequired && hw.TEEType == "" {
		errs = append(errs, field.Required(hwPath.Child("teeType"), "is required when teeRequired is true (one of sgx, sev-snp, tdx)"))
	}
	switch hw.TEEType {
	case "", v1alpha1.TEETypeSGX, v1alpha1.TEETypeSEVSNP, v1alpha1.TEETypeTDX:
	default:
		errs = append(errs, field.Invalid(hwPath.Child("teeType"), hw.TEEType, fmt.Sprintf("unknown TEE type %q (one of sgx, sev-snp, tdx)", hw.TEEType)))
	}
	if hw.GPUCount > 0 && sched != nil && sched.RuntimeClass != nil && confidentialRuntimeWithoutGPU[*sched.RuntimeClass] {
		errs = append(errs, field.Invalid(path.Child("scheduling", "runtimeClass"), *sched.RuntimeClass,
			fmt.Sprintf("runtime class %q cannot pass GPUs through, but hardwareRequirements.gpuCount is %d", *sched.RuntimeClass, hw.GPUCount)))
	}
	return errs
}

// PlacementFor maps hardware requirements onto node selection, tolerations, device resources and
// a runtime class. It assumes Validate found nothing.
func PlacementFor(hw *v1alpha1.HardwareRequirements) Placement {
	var pl Placement
	if hw == nil {
		return pl
	}
	sel := map[string]string{}
	res := corev1.ResourceList{}
	confidentialVM := hw.TEEType == v1alpha1.TEETypeSEVSNP || hw.TEEType == v1alpha1.TEETypeTDX

	if hw.GPUType != "" {
		if family, ok := gpuFamilies[strings.ToLower(hw.GPUType)]; ok {
			pl.NodeAffinity = append(pl.NodeAffinity, corev1.NodeSelectorRequirement{
				Key: GPUProductLabel, Operator: corev1.NodeSelectorOpIn, Values: append([]string(nil), family...),
			})
		} else {
			sel[GPUProductLabel] = hw.GPUType
		}
	}
	if hw.GPUCount > 0 {
		gpus := *resource.NewQuantity(int64(hw.GPUCount), resource.DecimalSI)
		if confidentialVM {
			// A confidential VM gets whole GPUs passed through, which the NVIDIA GPU operator
			// advertises as nvidia.com/pgpu.
			res[PassthroughGPURes] = gpus
		} else {
			res[GPUResource] = gpus
		}
		pl.Tolerations = append(pl.Tolerations, corev1.Toleration{
			Key: GPUTaintKey, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule,
		})
	}
	if hw.GPUCount > 0 && confidentialVM {
		pl.Tolerations = append(pl.Tolerations, corev1.Toleration{
			Key: string(PassthroughGPURes), Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule,
		})
	}
	switch hw.TEEType {
	case v1alpha1.TEETypeSGX:
		sel[SGXNodeLabel] = "true"
		res[SGXEPCResource] = DefaultSGXEPC.DeepCopy()
	case v1alpha1.TEETypeSEVSNP:
		sel[SEVSNPNodeLabel] = "true"
		pl.RuntimeClassName = ptr(RuntimeClassSNP)
		if hw.GPUCount > 0 {
			pl.RuntimeClassName = ptr(RuntimeClassGPUSNP)
		}
	case v1alpha1.TEETypeTDX:
		sel[TDXNodeLabel] = "true"
		pl.RuntimeClassName = ptr(RuntimeClassTDX)
		if hw.GPUCount > 0 {
			pl.RuntimeClassName = ptr(RuntimeClassGPUTDX)
		}
	}
	for k, v := range hw.CustomLabels {
		sel[k] = v
	}
	if len(sel) > 0 {
		pl.NodeSelector = sel
	}
	if len(res) > 0 {
		pl.Resources = res
	}
	return pl
}

// Resolved is the scheduling and resources of a performer once its hardware requirements are
// applied under its explicit settings.
type Resolved struct {
	Scheduling v1alpha1.Scheduling
	Resources  corev1.ResourceRequirements
}

// Resolve merges the placement of hw under the explicit scheduling and resources. Explicit
// settings always win: a node selector key, a resource name or a runtime class given explicitly is
// kept as given; tolerations are the union of both. Resolving an already resolved spec again gives
// the same result, which is what lets the function write the result to Git and the controller apply
// the mapping once more without a change.
func Resolve(hw *v1alpha1.HardwareRequirements, sched *v1alpha1.Scheduling, res *corev1.ResourceRequirements) Resolved {
	pl := PlacementFor(hw)
	var out Resolved
	if sched != nil {
		out.Scheduling = *sched.DeepCopy()
	}
	if res != nil {
		out.Resources = *res.DeepCopy()
	}

	for k, v := range pl.NodeSelector {
		if _, set := out.Scheduling.NodeSelector[k]; set {
			continue
		}
		if out.Scheduling.NodeSelector == nil {
			out.Scheduling.NodeSelector = map[string]string{}
		}
		out.Scheduling.NodeSelector[k] = v
	}
	for _, t := range pl.Tolerations {
		if !hasToleration(out.Scheduling.Tolerations, t) {
			out.Scheduling.Tolerations = append(out.Scheduling.Tolerations, t)
		}
	}
	if out.Scheduling.RuntimeClass == nil && pl.RuntimeClassName != nil {
		out.Scheduling.RuntimeClass = ptr(*pl.RuntimeClassName)
	}
	if len(pl.NodeAffinity) > 0 {
		out.Scheduling.Affinity = withNodeRequirements(out.Scheduling.Affinity, pl.NodeAffinity)
	}
	names := make([]string, 0, len(pl.Resources))
	for n := range pl.Resources {
		names = append(names, string(n))
	}
	sort.Strings(names)
	for _, n := range names {
		name := corev1.ResourceName(n)
		q := pl.Resources[name]
		_, inReq := out.Resources.Requests[name]
		_, inLim := out.Resources.Limits[name]
		if inReq || inLim {
			continue
		}
		if out.Resources.Requests == nil {
			out.Resources.Requests = corev1.ResourceList{}
		}
		if out.Resources.Limits == nil {
			out.Resources.Limits = corev1.ResourceList{}
		}
		out.Resources.Requests[name] = q.DeepCopy()
		out.Resources.Limits[name] = q.DeepCopy()
	}
	return out
}

// withNodeRequirements ANDs reqs into every required node selector term of a, adding a term when
// there is none. Requirements already present (same key and operator) are left as they are.
func withNodeRequirements(a *corev1.Affinity, reqs []corev1.NodeSelectorRequirement) *corev1.Affinity {
	if a == nil {
		a = &corev1.Affinity{}
	}
	if a.NodeAffinity == nil {
		a.NodeAffinity = &corev1.NodeAffinity{}
	}
	na := a.NodeAffinity
	if na.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		na.RequiredDuringSchedulingIgnoredDuringExecution = &corev1.NodeSelector{}
	}
	ns := na.RequiredDuringSchedulingIgnoredDuringExecution
	if len(ns.NodeSelectorTerms) == 0 {
		ns.NodeSelectorTerms = []corev1.NodeSelectorTerm{{}}
	}
	for i := range ns.NodeSelectorTerms {
		term := &ns.NodeSelectorTerms[i]
		for _, r := range reqs {
			if !hasRequirement(term.MatchExpressions, r) {
				term.MatchExpressions = append(term.MatchExpressions, *r.DeepCopy())
			}
		}
	}
	return a
}

func hasRequirement(list []corev1.NodeSelectorRequirement, r corev1.NodeSelectorRequirement) bool {
	for _, x := range list {
		if x.Key == r.Key && x.Operator == r.Operator {
			return true
		}
	}
	return false
}

func hasToleration(list []corev1.Toleration, t corev1.Toleration) bool {
	for _, x := range list {
		if x.Key == t.Key && x.Operator == t.Operator && x.Value == t.Value && x.Effect == t.Effect {
			return true
		}
	}
	return false
}

func ptr[T any](v T) *T { return &v }

// Bottlerocket has no standard node label (kubernetes.io/os is "linux" there), so platform teams
// label and taint their Bottlerocket pools themselves. These defaults follow the Hourglass
// walkthrough; the KRM function's bottlerocket profile takes others as parameters.
const (
	BottlerocketNodeLabel      = "node.kubernetes.io/os"
	BottlerocketNodeLabelValue = "bottlerocket"
	BottlerocketTaintKey       = "bottlerocket"
	BottlerocketTaintValue     = "true"
)

package hardware

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/hourglass-gitops/hourglass-gitops/api/v1alpha1"
)

// quantities compares resource quantities by value, the way the API server does.
var quantities = cmp.Comparer(func(a, b resource.Quantity) bool { return a.Cmp(b) == 0 })

var gpuToleration = corev1.Toleration{Key: "nvidia.com/gpu", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}

// The expected placements are the table of docs/hardware.md, written out by hand.
func TestPlacementFor(t *testing.T) {
	for _, tc := range []struct {
		name string
		hw   *v1alpha1.HardwareRequirements
		want Placement
	}{
		{name: "none", hw: nil, want: Placement{}},
		{name: "empty", hw: &v1alpha1.HardwareRequirements{}, want: Placement{}},
		{
			name: "gpu count",
			hw:   &v1alpha1.HardwareRequirements{GPUCount: 4},
			want: Placement{
				Tolerations: []corev1.Toleration{gpuToleration},
				Resources:   corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("4")},
			},
		},
		{
			name: "gpu product",
			hw:   &v1alpha1.HardwareRequirements{GPUType: "NVIDIA-H100-80GB-HBM3", GPUCount: 1},
			want: Placement{
				NodeSelector: map[string]string{"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"},
				Tolerations:  []corev1.Toleration{gpuToleration},
				Resources:    corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("1")},
			},
		},
		{
			name: "gpu family alias, any case",
			hw:   &v1alpha1.HardwareRequirements{GPUType: "NVIDIA-H100"},
			want: Placement{
				NodeAffinity: []corev1.NodeSelectorRequirement{{
					Key: "nvidia.com/gpu.product", Operator: corev1.NodeSelectorOpIn,
					Values: []string{"NVIDIA-H100-80GB-HBM3", "NVIDIA-H100-PCIe", "NVIDIA-H100-NVL"},
				}},
			},
		},
		{
			name: "sgx",
			hw:   &v1alpha1.HardwareRequirements{TEERequired: true, TEEType: v1alpha1.TEETypeSGX},
			want: Placement{
				NodeSelector: map[string]string{"intel.feature.node.kubernetes.io/sgx": "true"},
				Resources:    corev1.ResourceList{"sgx.intel.com/epc": resource.MustParse("10Mi")},
			},
		},
		{
			name: "sev-snp",
			hw:   &v1alpha1.HardwareRequirements{TEERequired: true, TEEType: v1alpha1.TEETypeSEVSNP},
			want: Placement{
				NodeSelector:     map[string]string{"feature.node.kubernetes.io/cpu-security.sev.snp.enabled": "true"},
				RuntimeClassName: ptr("kata-qemu-snp"),
			},
		},
		{
			name: "tdx",
			hw:   &v1alpha1.HardwareRequirements{TEEType: v1alpha1.TEETypeTDX},
			want: Placement{
				NodeSelector:     map[string]string{"feature.node.kubernetes.io/cpu-security.tdx.enabled": "true"},
				RuntimeClassName: ptr("kata-qemu-tdx"),
			},
		},
		{
			name: "tdx with gpus passes them through",
			hw:   &v1alpha1.HardwareRequirements{TEEType: v1alpha1.TEETypeTDX, GPUCount: 2},
			want: Placement{
				NodeSelector: map[string]string{"feature.node.kubernetes.io/cpu-security.tdx.enabled": "true"},
				Tolerations: []corev1.Toleration{
					gpuToleration,
					{Key: "nvidia.com/pgpu", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
				},
				Resources:        corev1.ResourceList{"nvidia.com/pgpu": resource.MustParse("2")},
				RuntimeClassName: ptr("kata-qemu-nvidia-gpu-tdx"),
			},
		},
		{
			name: "sgx with custom labels",
			hw: &v1alpha1.HardwareRequirements{TEEType: v1alpha1.TEETypeSGX,
				CustomLabels: map[string]string{"example.com/rack": "r1"}},
			want: Placement{
				NodeSelector: map[string]string{"intel.feature.node.kubernetes.io/sgx": "true", "example.com/rack": "r1"},
				Resources:    corev1.ResourceList{"sgx.intel.com/epc": resource.MustParse("10Mi")},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, PlacementFor(tc.hw), quantities); diff != "" {
				t.Errorf("PlacementFor (-want +got):\n%s", diff)
			}
		})
	}
}

func TestResolveExplicitWins(t *testing.T) {
	hw := &v1alpha1.HardwareRequirements{GPUType: "nvidia-a100", GPUCount: 2, TEEType: v1alpha1.TEETypeSEVSNP}
	sched := &v1alpha1.Scheduling{
		NodeSelector: map[string]string{
			"feature.node.kubernetes.io/cpu-security.sev.snp.enabled": "yes", // explicit value wins
			"accelerator": "a100",
		},
		Tolerations: []corev1.Toleration{
			gpuToleration, // already there: not repeated
			{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "avs", Effect: corev1.TaintEffectNoExecute},
		},
		Affinity: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{
				{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"a"}}}},
				{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"b"}}}},
			}},
		}},
		RuntimeClass:      ptr("my-snp-runtime"),
		PriorityClassName: "high",
	}
	res := &corev1.ResourceRequirements{
		Requests: corev1.ResourceList{"cpu": resource.MustParse("1")},
		Limits:   corev1.ResourceList{"nvidia.com/pgpu": resource.MustParse("1")},
	}
	before := sched.DeepCopy()
	beforeRes := res.DeepCopy()

	got := Resolve(hw, sched, res)

	family := []string{"NVIDIA-A100-PCIE-40GB", "NVIDIA-A100-PCIE-80GB", "NVIDIA-A100-SXM4-40GB", "NVIDIA-A100-SXM4-80GB", "NVIDIA-A100-80GB-PCIe"}
	want := Resolved{
		Scheduling: v1alpha1.Scheduling{
			NodeSelector: map[string]string{
				"feature.node.kubernetes.io/cpu-security.sev.snp.enabled": "yes",
				"accelerator": "a100",
			},
			Tolerations: []corev1.Toleration{
				gpuToleration,
				{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "avs", Effect: corev1.TaintEffectNoExecute},
				{Key: "nvidia.com/pgpu", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
			},
			Affinity: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{
					{MatchExpressions: []corev1.NodeSelectorRequirement{
						{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"a"}},
						{Key: "nvidia.com/gpu.product", Operator: corev1.NodeSelectorOpIn, Values: family},
					}},
					{MatchExpressions: []corev1.NodeSelectorRequirement{
						{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"b"}},
						{Key: "nvidia.com/gpu.product", Operator: corev1.NodeSelectorOpIn, Values: family},
					}},
				}},
			}},
			RuntimeClass:      ptr("my-snp-runtime"),
			PriorityClassName: "high",
		},
		Resources: corev1.ResourceRequirements{
			// nvidia.com/pgpu is named explicitly (as a limit), so the mapping adds no request for it.
			Requests: corev1.ResourceList{"cpu": resource.MustParse("1")},
			Limits:   corev1.ResourceList{"nvidia.com/pgpu": resource.MustParse("1")},
		},
	}
	if diff := cmp.Diff(want, got, quantities); diff != "" {
		t.Errorf("Resolve (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(before, sched); diff != "" {
		t.Errorf("Resolve changed its scheduling argument (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff(beforeRes, res, quantities); diff != "" {
		t.Errorf("Resolve changed its resources argument (-before +after):\n%s", diff)
	}
}

func TestResolveAddsMapping(t *testing.T) {
	hw := &v1alpha1.HardwareRequirements{TEERequired: true, TEEType: v1alpha1.TEETypeSGX, GPUCount: 1}
	got := Resolve(hw, nil, &corev1.ResourceRequirements{Requests: corev1.ResourceList{"memory": resource.MustParse("1Gi")}})
	want := Resolved{
		Scheduling: v1alpha1.Scheduling{
			NodeSelector: map[string]string{"intel.feature.node.kubernetes.io/sgx": "true"},
			Tolerations:  []corev1.Toleration{gpuToleration},
		},
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{
				"memory":            resource.MustParse("1Gi"),
				"nvidia.com/gpu":    resource.MustParse("1"),
				"sgx.intel.com/epc": resource.MustParse("10Mi"),
			},
			Limits: corev1.ResourceList{
				"nvidia.com/gpu":    resource.MustParse("1"),
				"sgx.intel.com/epc": resource.MustParse("10Mi"),
			},
		},
	}
	if diff := cmp.Diff(want, got, quantities); diff != "" {
		t.Errorf("Resolve (-want +got):\n%s", diff)
	}
}

// Resolving the resolved scheduling and resources again changes nothing: what the KRM function
// writes to Git, the controller maps once more without a difference.
func TestResolveIsIdempotent(t *testing.T) {
	cases := map[string]struct {
		hw    *v1alpha1.HardwareRequirements
		sched *v1alpha1.Scheduling
		res   *corev1.ResourceRequirements
	}{
		"nothing":      {},
		"gpu alias":    {hw: &v1alpha1.HardwareRequirements{GPUType: "nvidia-h100", GPUCount: 8}},
		"gpu product":  {hw: &v1alpha1.HardwareRequirements{GPUType: "Tesla-T4", GPUCount: 1}},
		"sgx":          {hw: &v1alpha1.HardwareRequirements{TEERequired: true, TEEType: v1alpha1.TEETypeSGX}},
		"sev-snp gpus": {hw: &v1alpha1.HardwareRequirements{TEEType: v1alpha1.TEETypeSEVSNP, GPUType: "nvidia-a100", GPUCount: 2}},
		"tdx custom":   {hw: &v1alpha1.HardwareRequirements{TEEType: v1alpha1.TEETypeTDX, CustomLabels: map[string]string{"pool": "tee"}}},
		"explicit everything": {
			hw: &v1alpha1.HardwareRequirements{GPUType: "nvidia-l4", GPUCount: 1, TEEType: v1alpha1.TEETypeSGX},
			sched: &v1alpha1.Scheduling{
				NodeSelector: map[string]string{"a": "b"},
				Tolerations:  []corev1.Toleration{{Key: "x", Operator: corev1.TolerationOpExists}},
				Affinity: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
					PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{{Weight: 1,
						Preference: corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "k", Operator: corev1.NodeSelectorOpExists}}}}},
				}},
			},
			res: &corev1.ResourceRequirements{Limits: corev1.ResourceList{"sgx.intel.com/epc": resource.MustParse("32Mi")}},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			once := Resolve(tc.hw, tc.sched, tc.res)
			twice := Resolve(tc.hw, &once.Scheduling, &once.Resources)
			if diff := cmp.Diff(once, twice, quantities, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("second Resolve changed the result (-once +twice):\n%s", diff)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	snp := "kata-qemu-snp"
	gpuSNP := "kata-qemu-nvidia-gpu-snp"
	for _, tc := range []struct {
		name   string
		prefix string
		hw     *v1alpha1.HardwareRequirements
		sched  *v1alpha1.Scheduling
		want   []string
	}{
		{name: "nil", want: nil},
		{name: "gpu and tee", hw: &v1alpha1.HardwareRequirements{GPUCount: 1, TEEType: v1alpha1.TEETypeSGX, TEERequired: true}},
		{name: "negative gpus", prefix: "spec", hw: &v1alpha1.HardwareRequirements{GPUCount: -1},
			want: []string{"spec.hardwareRequirements.gpuCount: must be 0 or more, got -1"}},
		{name: "tee without type", hw: &v1alpha1.HardwareRequirements{TEERequired: true},
			want: []string{"hardwareRequirements.teeType: is required when teeRequired is true (one of sgx, sev-snp, tdx)"}},
		{name: "unknown tee", prefix: "spec", hw: &v1alpha1.HardwareRequirements{TEEType: "trustzone"},
			want: []string{`spec.hardwareRequirements.teeType: unknown TEE type "trustzone" (one of sgx, sev-snp, tdx)`}},
		{name: "gpu on confidential runtime", prefix: "spec", hw: &v1alpha1.HardwareRequirements{GPUCount: 1},
			sched: &v1alpha1.Scheduling{RuntimeClass: &snp},
			want:  []string{`spec.scheduling.runtimeClass: runtime class "kata-qemu-snp" cannot pass GPUs through, but hardwareRequirements.gpuCount is 1`}},
		{name: "gpu on gpu-capable confidential runtime", hw: &v1alpha1.HardwareRequirements{GPUCount: 1},
			sched: &v1alpha1.Scheduling{RuntimeClass: &gpuSNP}},
	} {
		var got []string
		var path *field.Path
		if tc.prefix != "" {
			path = field.NewPath(tc.prefix)
		}
		for _, err := range Validate(path, tc.hw, tc.sched) {
			got = append(got, err.Field+": "+err.Detail)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s: Validate (-want +got):\n%s", tc.name, diff)
		}
	}
}

func TestHardwareBound(t *testing.T) {
	for _, tc := range []struct {
		hw   *v1alpha1.HardwareRequirements
		want bool
	}{
		{nil, false},
		{&v1alpha1.HardwareRequirements{}, false},
		{&v1alpha1.HardwareRequirements{CustomLabels: map[string]string{"a": "b"}}, false},
		{&v1alpha1.HardwareRequirements{GPUCount: 1}, true},
		{&v1alpha1.HardwareRequirements{GPUType: "nvidia-t4"}, true},
		{&v1alpha1.HardwareRequirements{TEERequired: true}, true},
		{&v1alpha1.HardwareRequirements{TEEType: v1alpha1.TEETypeTDX}, true},
	} {
		if got := HardwareBound(tc.hw); got != tc.want {
			t.Errorf("HardwareBound(%+v) = %v, want %v", tc.hw, got, tc.want)
		}
	}
}

func TestGPUFamiliesIsACopy(t *testing.T) {
	f := GPUFamilies()
	f["nvidia-a100"][0] = "changed"
	delete(f, "nvidia-h100")
	if GPUFamilies()["nvidia-a100"][0] != "NVIDIA-A100-PCIE-40GB" || GPUFamilies()["nvidia-h100"] == nil {
		t.Error("changing the result of GPUFamilies changed the mapping")
	}
}

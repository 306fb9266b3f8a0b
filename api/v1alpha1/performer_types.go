package v1alpha1

import (
	"github.com/fluxcd/pkg/apis/meta"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const (
	// PerformerKind is the kind of the Performer API.
	PerformerKind = "Performer"

	// DefaultGRPCPort is the port a performer serves gRPC on when the spec names none.
	DefaultGRPCPort int32 = 9090
)

// PerformerSpec describes one AVS performer: a gRPC server that an executor sends tasks to.
// +kubebuilder:validation:XValidation:rule="!has(self.hardwareRequirements) || !has(self.hardwareRequirements.gpuCount) || self.hardwareRequirements.gpuCount == 0 || !has(self.scheduling) || !has(self.scheduling.runtimeClass) || !(self.scheduling.runtimeClass in ['kata-qemu-snp', 'kata-qemu-tdx', 'kata-cc-isolation'])",message="hardwareRequirements.gpuCount needs a runtime class that can pass GPUs through; scheduling.runtimeClass names a confidential runtime without GPU support"
type PerformerSpec struct {
	// AVSAddress is the Ethereum address of the AVS this performer serves.
	// +kubebuilder:validation:Pattern=`^0x[0-9a-fA-F]{40}$`
	// +kubebuilder:validation:MaxLength=42
	AVSAddress string `json:"avsAddress"`

	// Image is the performer container image, with or without a tag. At most 512 characters: a
	// 255-character name (registry included, the distribution spec's limit), a 128-character tag
	// and a sha256 digest take 456.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	Image string `json:"image"`

	// ImagePullPolicy of the performer container.
	// +kubebuilder:validation:Enum=Always;IfNotPresent;Never
	// +optional
	ImagePullPolicy corev1.PullPolicy `json:"imagePullPolicy,omitempty"`

	// Version of the performer. When the image has no tag or digest, the version is used as its tag.
	// A change of version rolls the performer out. At most 128 characters, the longest image tag.
	// +kubebuilder:validation:MaxLength=128
	// +optional
	Version string `json:"version,omitempty"`

	// Config is the performer process configuration.
	// +optional
	Config PerformerConfig `json:"config,omitempty"`

	// Resources of the performer container. Hardware requirements add their device resources
	// (for example nvidia.com/gpu) unless an entry of the same name is given here.
	// +optional
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`

	// Scheduling constrains where the performer runs. Explicit fields here always win over what
	// hardware requirements imply.
	// +optional
	Scheduling *Scheduling `json:"scheduling,omitempty"`

	// HardwareRequirements of the performer: GPUs and trusted execution environments. They are
	// mapped to the node labels, tolerations, device resources and runtime classes of each technology.
	// +optional
	HardwareRequirements *HardwareRequirements `json:"hardwareRequirements,omitempty"`

	// ImagePullSecrets for the performer image; at most 4 (one per registry the image may come
	// from is already more than performers use).
	// +kubebuilder:validation:MaxItems=4
	// +optional
	ImagePullSecrets []corev1.LocalObjectReference `json:"imagePullSecrets,omitempty"`

	// UpgradeStrategy of image and version changes. RollingUpdate (surge one, none unavailable)
	// keeps the performer serving during an upgrade; Recreate frees the old pod first, which
	// hardware-bound performers need when a scarce GPU or TEE node cannot hold two copies.
	// Defaults to Recreate for GPU and TEE performers and RollingUpdate otherwise.
	// +optional
	UpgradeStrategy *UpgradeStrategy `json:"upgradeStrategy,omitempty"`

	// PodSecurityContext replaces the restricted pod security context the controller sets by
	// default, for performers that must run as a given user or group.
	// +optional
	PodSecurityContext *corev1.PodSecurityContext `json:"podSecurityContext,omitempty"`

	// SecurityContext replaces the restricted container security context the controller sets by
	// default (non-root, no privilege escalation, all capabilities dropped, RuntimeDefault seccomp,
	// read-only root filesystem with a writable emptyDir at /tmp), field by field:
	// readOnlyRootFilesystem: false gives the performer a writable root filesystem.
	// +optional
	SecurityContext *corev1.SecurityContext `json:"securityContext,omitempty"`

	// Probes replaces the default gRPC health probes, for performers that do not implement the
	// gRPC health checking protocol.
	// +optional
	Probes *Probes `json:"probes,omitempty"`

	// PodAnnotations are added to the performer pod, for example for metrics scraping or sidecar
	// injection. Changing them rolls the performer. At most 8, with keys of at most 128 characters
	// (the longest well-known annotation and label keys are about 60) and values of at most 256
	// (scraping and sidecar settings are a few words; anything bigger belongs in a ConfigMap).
	// +kubebuilder:validation:MaxProperties=8
	// +optional
	PodAnnotations map[string]string `json:"podAnnotations,omitempty"`

	// Suspend tells the controller to stop reconciling this performer, leaving its workload as it is.
	// Useful during incident response or a manual migration.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
}

// PerformerConfig is the performer process configuration.
type PerformerConfig struct {
	// GRPCPort is the port the performer serves gRPC on.
	// +kubebuilder:default=9090
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +optional
	GRPCPort int32 `json:"grpcPort,omitempty"`

	// Environment variables of the performer container. At most 16, with names of at most 64
	// characters and values of at most 256: performers take RPC URLs, addresses, ports and flags
	// here (a dozen at most, the longest an RPC URL with its key); a larger value, such as a
	// certificate or a config file, belongs in a ConfigMap or Secret that EnvironmentFrom names.
	// +kubebuilder:validation:MaxProperties=16
	// +optional
	Environment map[string]string `json:"environment,omitempty"`

	// EnvironmentFrom sets environment variables from Secrets, ConfigMaps or pod fields; at most
	// 8 (keys, tokens and endpoints kept in Secrets number a handful per performer).
	// +kubebuilder:validation:MaxItems=8
	// +listType=map
	// +listMapKey=name
	// +optional
	EnvironmentFrom []EnvVarFrom `json:"environmentFrom,omitempty"`

	// Args replace the image's CMD: at most 12 arguments of at most 256 characters, room for
	// the flags of a performer with values such as URLs; files belong in a ConfigMap.
	// +kubebuilder:validation:MaxItems=12
	// +kubebuilder:validation:items:MaxLength=256
	// +optional
	Args []string `json:"args,omitempty"`

	// Command replaces the image's ENTRYPOINT: at most 4 words of at most 256 characters (an
	// interpreter, a script and its options; the flags go in Args).
	// +kubebuilder:validation:MaxItems=4
	// +kubebuilder:validation:items:MaxLength=256
	// +optional
	Command []string `json:"command,omitempty"`

	// ServiceAccountName the performer pod runs as: an object name, at most 253 characters.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	ServiceAccountName string `json:"serviceAccountName,omitempty"`
}

// EnvVarFrom is an environment variable whose value comes from elsewhere.
type EnvVarFrom struct {
	// Name of the environment variable, at most 64 characters as in Environment.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	Name string `json:"name"`

	// ValueFrom says where the value comes from: exactly one source, as Kubernetes requires.
	// +kubebuilder:validation:XValidation:rule="[has(self.configMapKeyRef), has(self.secretKeyRef), has(self.fieldRef), has(self.resourceFieldRef), has(self.fileKeyRef)].exists_one(x, x)",message="valueFrom must name exactly one source"
	ValueFrom corev1.EnvVarSource `json:"valueFrom"`
}

// Scheduling constrains where a performer runs.
type Scheduling struct {
	// NodeSelector the performer pod must match: at most 8 labels (a node pool, an instance type
	// and a few hardware labels are what performers select on), keys of at most 128 characters
	// (the longest well-known label keys are about 60) and values of at most 63, as Kubernetes
	// label syntax allows.
	// +kubebuilder:validation:MaxProperties=8
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`

	// Tolerations of the performer pod: at most 8 (a dedicated pool's taint, the GPU and TEE
	// taints and the not-ready/unreachable ones).
	// +kubebuilder:validation:MaxItems=8
	// +optional
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`

	// Affinity of the performer pod.
	// +optional
	Affinity *corev1.Affinity `json:"affinity,omitempty"`

	// RuntimeClass is the RuntimeClass name of the performer pod, at most 253 characters.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	RuntimeClass *string `json:"runtimeClass,omitempty"`

	// PriorityClassName of the performer pod, at most 253 characters.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	PriorityClassName string `json:"priorityClassName,omitempty"`
}

// TEEType names a trusted execution environment technology.
// +kubebuilder:validation:Enum=sgx;sev-snp;tdx
type TEEType string

const (
	// TEETypeSGX is Intel Software Guard Extensions.
	TEETypeSGX TEEType = "sgx"
	// TEETypeSEVSNP is AMD Secure Encrypted Virtualization with Secure Nested Paging.
	TEETypeSEVSNP TEEType = "sev-snp"
	// TEETypeTDX is Intel Trust Domain Extensions.
	TEETypeTDX TEEType = "tdx"
)

// HardwareRequirements of a performer.
// +kubebuilder:validation:XValidation:rule="!has(self.teeRequired) || !self.teeRequired || has(self.teeType)",message="teeType is required when teeRequired is true"
type HardwareRequirements struct {
	// GPUType is the GPU model: an NVIDIA GPU Feature Discovery product name such as
	// NVIDIA-A100-SXM4-80GB, or a family alias such as nvidia-a100 that matches every product of
	// that family. At most 128 characters; product names are under 40.
	// +kubebuilder:validation:MaxLength=128
	// +optional
	GPUType string `json:"gpuType,omitempty"`

	// GPUCount is the number of GPUs the performer needs.
	// +kubebuilder:validation:Minimum=0
	// +optional
	GPUCount int32 `json:"gpuCount,omitempty"`

	// TEERequired says the performer must run in a trusted execution environment of TEEType.
	// +optional
	TEERequired bool `json:"teeRequired,omitempty"`

	// TEEType is the trusted execution environment technology.
	// +optional
	TEEType TEEType `json:"teeType,omitempty"`

	// CustomLabels are node labels the performer's node must carry, for hardware the built-in
	// mappings do not know: at most 8, keys of at most 128 characters and values of at most 63,
	// as in Scheduling.NodeSelector.
	// +kubebuilder:validation:MaxProperties=8
	// +optional
	CustomLabels map[string]string `json:"customLabels,omitempty"`
}

// UpgradeStrategyType is how a performer moves to a new image or version.
// +kubebuilder:validation:Enum=RollingUpdate;Recreate
type UpgradeStrategyType string

const (
	// RollingUpdateStrategy starts the new pod before the old one stops.
	RollingUpdateStrategy UpgradeStrategyType = "RollingUpdate"
	// RecreateStrategy stops the old pod before the new one starts.
	RecreateStrategy UpgradeStrategyType = "Recreate"
)

// UpgradeStrategy of a performer.
type UpgradeStrategy struct {
	// Type of the upgrade strategy.
	Type UpgradeStrategyType `json:"type"`
}

// Probes of the performer container.
type Probes struct {
	// Liveness replaces the default gRPC liveness probe. It has exactly one handler, as
	// Kubernetes requires.
	// +kubebuilder:validation:XValidation:rule="[has(self.exec), has(self.httpGet), has(self.tcpSocket), has(self.grpc)].exists_one(x, x)",message="a probe has exactly one of exec, httpGet, tcpSocket and grpc"
	// +optional
	Liveness *corev1.Probe `json:"liveness,omitempty"`

	// Readiness replaces the default gRPC readiness probe. It has exactly one handler, as
	// Kubernetes requires.
	// +kubebuilder:validation:XValidation:rule="[has(self.exec), has(self.httpGet), has(self.tcpSocket), has(self.grpc)].exists_one(x, x)",message="a probe has exactly one of exec, httpGet, tcpSocket and grpc"
	// +optional
	Readiness *corev1.Probe `json:"readiness,omitempty"`
}

// PerformerPhase is a one-word summary of where a performer is.
// +kubebuilder:validation:Enum=Pending;Running;Upgrading;Terminating;Failed
type PerformerPhase string

const (
	PhasePending     PerformerPhase = "Pending"
	PhaseRunning     PerformerPhase = "Running"
	PhaseUpgrading   PerformerPhase = "Upgrading"
	PhaseTerminating PerformerPhase = "Terminating"
	PhaseFailed      PerformerPhase = "Failed"
)

// PerformerStatus is the observed state of a Performer.
type PerformerStatus struct {
	// ObservedGeneration is the last generation the controller acted on. It defaults to -1 so
	// that a Performer the controller has not seen yet is not taken as ready by kstatus.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready, and Reconciling or Stalled while they are true.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	meta.ReconcileRequestStatus `json:",inline"`

	// Phase summarises the performer's state.
	// +optional
	Phase PerformerPhase `json:"phase,omitempty"`

	// Ready is true when the current version is rolled out and its pod is ready.
	// +optional
	Ready bool `json:"ready,omitempty"`

	// PodName is the name of the performer's ready pod of the current version.
	// +optional
	PodName string `json:"podName,omitempty"`

	// NodeName is the node that pod runs on.
	// +optional
	NodeName string `json:"nodeName,omitempty"`

	// ServiceName is the name of the performer's Service.
	// +optional
	ServiceName string `json:"serviceName,omitempty"`

	// GRPCEndpoint is the in-cluster address of the performer's gRPC server.
	// +optional
	GRPCEndpoint string `json:"grpcEndpoint,omitempty"`

	// ReadyTime is when the performer last became ready.
	// +optional
	ReadyTime *metav1.Time `json:"readyTime,omitempty"`

	// LastUpgrade is when the performer last started moving to a new image or version.
	// +optional
	LastUpgrade *metav1.Time `json:"lastUpgrade,omitempty"`

	// CurrentImage is the image reference the rolled-out workload runs.
	// +optional
	CurrentImage string `json:"currentImage,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=perf;performer,categories=hourglass
// +kubebuilder:printcolumn:name="AVS",type=string,JSONPath=`.spec.avsAddress`
// +kubebuilder:printcolumn:name="Image",type=string,JSONPath=`.spec.image`
// +kubebuilder:printcolumn:name="Version",type=string,JSONPath=`.spec.version`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Endpoint",type=string,JSONPath=`.status.grpcEndpoint`,priority=0
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`
// +kubebuilder:printcolumn:name="Pod",type=string,JSONPath=`.status.podName`,priority=1
// +kubebuilder:printcolumn:name="Node",type=string,JSONPath=`.status.nodeName`,priority=1
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 53",message="metadata.name must be at most 53 characters: the performer's Service is named performer-<name> and must fit a 63-character DNS label"

// Performer is an AVS performer: a gRPC server that an Hourglass executor sends tasks to.
type Performer struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec PerformerSpec `json:"spec,omitempty"`

	// +kubebuilder:default:={"observedGeneration":-1}
	Status PerformerStatus `json:"status,omitempty"`
}

// GetConditions returns the status conditions.
func (in *Performer) GetConditions() []metav1.Condition { return in.Status.Conditions }

// SetConditions replaces the status conditions.
func (in *Performer) SetConditions(c []metav1.Condition) { in.Status.Conditions = c }

// +kubebuilder:object:root=true

// PerformerList is a list of Performers.
type PerformerList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Performer `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Performer{}, &PerformerList{})
}

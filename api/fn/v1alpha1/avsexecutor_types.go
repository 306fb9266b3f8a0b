package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	hourglassv1alpha1 "github.com/hourglass-gitops/hourglass-gitops/api/v1alpha1"
)

// AVSExecutorSpec declares one Hourglass executor and the AVSs it serves. Its layout follows the
// executor's Helm values file so that values move over almost unchanged.
type AVSExecutorSpec struct {
	// Executor is the executor workload. Every field has a default.
	// +optional
	Executor ExecutorSpec `json:"executor,omitempty"`

	// Aggregator the executor's operator set works with. The executor does not dial the
	// aggregator (the aggregator calls the executor's gRPC port), so these values are validated
	// and documented but not written to the executor configuration.
	// +optional
	Aggregator *AggregatorSpec `json:"aggregator,omitempty"`

	// Chains by name. The L1 chain becomes the executor's l1Chain.
	// +kubebuilder:validation:MinProperties=1
	Chains map[string]ChainSpec `json:"chains"`

	// AVS lists the AVSs the executor serves; each gets one Performer.
	AVS AVSSpec `json:"avs"`

	// Operator is the operator identity and where its keys come from.
	Operator OperatorSpec `json:"operator"`

	// Secrets holds inline key material, as the Helm values file does. It is refused unless
	// allowInlineKeys is true: keep keys in a Secret made with SOPS, Sealed Secrets or External
	// Secrets and reference it from operator.keys instead.
	// +optional
	Secrets *SecretsSpec `json:"secrets,omitempty"`

	// Persistence of the executor's task store.
	// +optional
	Persistence PersistenceSpec `json:"persistence,omitempty"`

	// CustomProfiles defines profiles inline. They work wherever the function runs, including as
	// a kustomize generator, which sees nothing but this declaration.
	// +listType=map
	// +listMapKey=name
	// +optional
	CustomProfiles []CustomProfile `json:"customProfiles,omitempty"`

	// ProfileParameters tune the built-in profiles.
	// +optional
	ProfileParameters *ProfileParameters `json:"profileParameters,omitempty"`

	// Kubernetes tunes the executor's kubernetes deployment-mode settings.
	// +optional
	Kubernetes *KubernetesSpec `json:"kubernetes,omitempty"`

	// CreateNamespace emits the Namespace of the declaration, labelled to enforce the restricted
	// Pod Security Standard. Refused for namespaces that belong to others: kube-*, default,
	// flux-system, argocd, openshift-gitops and the Performer controller's namespace.
	// +optional
	CreateNamespace bool `json:"createNamespace,omitempty"`

	// NetworkPolicy, when enabled, lets only this executor reach its performers' gRPC port, and
	// admits to the executor pods only the ports the executor serves.
	// +optional
	NetworkPolicy *NetworkPolicySpec `json:"networkPolicy,omitempty"`

	// PerformerQuota bounds the number of Performers in the namespace with a ResourceQuota, so
	// that an executor in a crash loop, which leaves a Performer behind on every restart, cannot
	// fill the namespace. Rendered when given (performerQuota: {} for the default bound). The
	// cluster's quota controller must count Performers: until it does, the API server refuses
	// every Performer with "status unknown for quota".
	// +optional
	PerformerQuota *PerformerQuotaSpec `json:"performerQuota,omitempty"`
}

// PerformerQuotaSpec is the ResourceQuota on count/performers.hourglass.eigenlayer.io of the
// executor's namespace. A quota counts every Performer of the namespace: where several executors
// share one, give each the namespace's total or disable all but one.
type PerformerQuotaSpec struct {
	// Enabled renders the ResourceQuota. Defaults to true when performerQuota is given.
	// +optional
	Enabled *bool `json:"enabled,omitempty"`

	// MaxPerformers in the namespace. Defaults to the number of AVSs times (1 + 2 × replicas):
	// the Performer rendered for each AVS, the one each executor pod makes for it when it starts,
	// and room for one more per pod, which a restart makes before the old one is gone.
	// +kubebuilder:validation:Minimum=1
	// +optional
	MaxPerformers *int32 `json:"maxPerformers,omitempty"`
}

// ExecutorSpec is the executor workload.
type ExecutorSpec struct {
	// Name of the executor StatefulSet, its Services, ServiceAccount and config. Defaults to the
	// declaration's metadata.name. It must be a DNS label of at most 52 characters so that pod
	// and revision names fit.
	// +kubebuilder:validation:MaxLength=52
	// +kubebuilder:validation:Pattern=`^[a-z]([-a-z0-9]*[a-z0-9])?$`
	// +optional
	Name string `json:"name,omitempty"`

	// Replicas of the executor StatefulSet. Defaults to 1. More than one spreads the replicas
	// across nodes.
	// +kubebuilder:validation:Minimum=0
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`

	// Image of the executor. Defaults to the released Hourglass executor,
	// public.ecr.aws/z6g0f8n7/eigenlayer-hourglass at the tag the Hourglass chart pins
	// (v1.0.0-rc.2). When a repository is given, its tag must be given too.
	// +optional
	Image ImageSpec `json:"image,omitempty"`

	// PerformerConnection is how the executor reaches its performers. Defaults to a loopback
	// forwarder in the executor pod, which the released executor needs.
	// +optional
	PerformerConnection *PerformerConnectionSpec `json:"performerConnection,omitempty"`

	// AllowUnlistedChains lets the L1 chain be one for which the released executor has no
	// TaskMailbox contract built in (it has them for chain IDs 1, 11155111, 8453 and 84532, and
	// the local Anvil chains 31337 and 31338). Set it for an executor image that knows more
	// chains; the released one stops with "task mailbox contract not found".
	// +optional
	AllowUnlistedChains bool `json:"allowUnlistedChains,omitempty"`

	// Resources of the executor container.
	// +optional
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`

	// GRPCPort the executor serves tasks on; the client Service exposes the same port.
	// +kubebuilder:default=9095
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +optional
	GRPCPort int32 `json:"grpcPort,omitempty"`

	// ManagementPort is the executor's management gRPC port. When unset the executor serves
	// management calls on grpcPort.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +optional
	ManagementPort int32 `json:"managementPort,omitempty"`

	// MetricsPort is a Prometheus endpoint of the executor image, when it has one. The Services
	// then carry a "metrics" port.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +optional
	MetricsPort int32 `json:"metricsPort,omitempty"`

	// Debug turns on the executor's debug logging.
	// +optional
	Debug bool `json:"debug,omitempty"`

	// Scheduling of the executor pods. Anti-affinity across nodes is added when replicas > 1.
	// +optional
	Scheduling *hourglassv1alpha1.Scheduling `json:"scheduling,omitempty"`

	// ImagePullSecrets for the executor image.
	// +optional
	ImagePullSecrets []corev1.LocalObjectReference `json:"imagePullSecrets,omitempty"`

	// PodDisruptionBudget, when set, is rendered for the executor pods.
	// +optional
	PodDisruptionBudget *PodDisruptionBudgetSpec `json:"podDisruptionBudget,omitempty"`
}

// PerformerConnectionMode says how the executor dials its performers.
// +kubebuilder:validation:Enum=Forwarder;Direct
type PerformerConnectionMode string

const (
	// PerformerConnectionForwarder runs a loopback forwarder next to the executor: the executor
	// dials 127.0.0.1, which the released executor reaches without TLS, and the forwarder passes
	// the connection on to the performer's Service.
	PerformerConnectionForwarder PerformerConnectionMode = "Forwarder"
	// PerformerConnectionDirect lets the executor dial the performer's Service itself. Only for
	// executors that dial plaintext gRPC to any host: the released one uses TLS for every
	// address but localhost and 127.0.0.1, and performers serve plaintext.
	PerformerConnectionDirect PerformerConnectionMode = "Direct"
)

// PerformerConnectionSpec is how the executor reaches its performers.
type PerformerConnectionSpec struct {
	// Mode is Forwarder (the default) or Direct.
	// +optional
	Mode PerformerConnectionMode `json:"mode,omitempty"`

	// Forwarder settings, used in Forwarder mode.
	// +optional
	Forwarder *ForwarderSpec `json:"forwarder,omitempty"`
}

// ForwarderSpec configures the loopback forwarder, a native sidecar of the executor pod.
type ForwarderSpec struct {
	// Image carrying /performer-forwarder. Defaults to the Performer controller image
	// (ghcr.io/hourglass-gitops/performer-controller) at the tag of the base install.
	// +optional
	Image *ImageSpec `json:"image,omitempty"`

	// BasePort is the loopback port of the first AVS; the AVS at index i of supportedAvs gets
	// basePort+i. Defaults to 9101.
	// +kubebuilder:validation:Minimum=1024
	// +kubebuilder:validation:Maximum=65535
	// +optional
	BasePort int32 `json:"basePort,omitempty"`

	// HealthPort serves the forwarder's /healthz on the pod IP, for the kubelet's probes.
	// Defaults to 9100, or, when the executor uses 9100, to the first free port after the AVSs'
	// loopback ports.
	// +kubebuilder:validation:Minimum=1024
	// +kubebuilder:validation:Maximum=65535
	// +optional
	HealthPort int32 `json:"healthPort,omitempty"`

	// Resources of the forwarder container. Defaults to requests of 10m CPU and 16Mi memory and
	// limits of 200m CPU and 64Mi memory.
	// +optional
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`
}

// ImageSpec is a container image.
type ImageSpec struct {
	// Repository of the image.
	// +kubebuilder:validation:MinLength=1
	// +optional
	Repository string `json:"repository,omitempty"`

	// Tag of the image.
	// +kubebuilder:validation:MinLength=1
	// +optional
	Tag string `json:"tag,omitempty"`

	// PullPolicy of the image.
	// +kubebuilder:validation:Enum=Always;IfNotPresent;Never
	// +optional
	PullPolicy corev1.PullPolicy `json:"pullPolicy,omitempty"`
}

// PodDisruptionBudgetSpec is the disruption budget of the executor pods. Set one of the fields.
type PodDisruptionBudgetSpec struct {
	// MinAvailable executor pods during a voluntary disruption.
	// +optional
	MinAvailable *intstr.IntOrString `json:"minAvailable,omitempty"`

	// MaxUnavailable executor pods during a voluntary disruption.
	// +optional
	MaxUnavailable *intstr.IntOrString `json:"maxUnavailable,omitempty"`
}

// AggregatorSpec is the aggregator of the operator set.
type AggregatorSpec struct {
	// Endpoint of the aggregator, host:port.
	Endpoint string `json:"endpoint"`

	// TLS of the aggregator connection.
	// +optional
	TLS *TLSSpec `json:"tls,omitempty"`
}

// TLSSpec switches TLS on or off.
type TLSSpec struct {
	// Enabled turns TLS on.
	// +optional
	Enabled bool `json:"enabled,omitempty"`
}

// ChainSpec is one chain the executor works with.
type ChainSpec struct {
	// Enabled chains are used; disabled ones are ignored. Defaults to true.
	// +optional
	Enabled *bool `json:"enabled,omitempty"`

	// L1 marks the chain the executor uses as its L1. Needed only when more than one chain is
	// enabled.
	// +optional
	L1 bool `json:"l1,omitempty"`

	// RPCURL is the chain's JSON-RPC endpoint (http, https, ws or wss). Give it or rpcUrlFrom.
	// +optional
	RPCURL string `json:"rpcUrl,omitempty"`

	// RPCURLFrom takes the L1 chain's endpoint from a Secret key, for URLs that carry an API key:
	// the executor pod reads it into the configuration through an environment variable, and it
	// appears neither in Git nor in the rendered output.
	// +optional
	RPCURLFrom *RPCURLSource `json:"rpcUrlFrom,omitempty"`

	// ChainID of the chain. Defaults from well-known chain names (ethereum and mainnet: 1,
	// sepolia: 11155111, holesky: 17000, hoodi: 560048, base: 8453, base-sepolia: 84532).
	// +kubebuilder:validation:Minimum=1
	// +optional
	ChainID int64 `json:"chainId,omitempty"`

	// TaskMailboxAddress is the TaskMailbox contract on this chain. The executor takes the
	// mailbox from its built-in contract list for chainId; the address is validated only.
	// +kubebuilder:validation:Pattern=`^0x[0-9a-fA-F]{40}$`
	// +optional
	TaskMailboxAddress string `json:"taskMailboxAddress,omitempty"`

	// BlockConfirmations to wait for. Validated only; the executor has no such setting.
	// +kubebuilder:validation:Minimum=0
	// +optional
	BlockConfirmations int32 `json:"blockConfirmations,omitempty"`
}

// RPCURLSource is where an RPC URL comes from.
type RPCURLSource struct {
	// SecretKeyRef names a key of a Secret in the declaration's namespace.
	SecretKeyRef corev1.SecretKeySelector `json:"secretKeyRef"`
}

// AVSSpec lists the AVSs an executor serves.
type AVSSpec struct {
	// SupportedAVS are the AVSs the executor serves.
	// +kubebuilder:validation:MinItems=1
	SupportedAVS []SupportedAVS `json:"supportedAvs"`
}

// SupportedAVS is one AVS the executor serves and its performer.
type SupportedAVS struct {
	// Address is the AVS's Ethereum address.
	// +kubebuilder:validation:Pattern=`^0x[0-9a-fA-F]{40}$`
	Address string `json:"address"`

	// Name of the AVS. Its Performer has this name and is reached through the Service
	// performer-<name>, so the name must be a DNS-1035 label that still fits 63 characters with
	// "performer-" in front of it.
	// +kubebuilder:validation:MaxLength=53
	// +kubebuilder:validation:Pattern=`^[a-z]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`

	// Performer is the performer image and process settings.
	Performer AVSPerformer `json:"performer"`

	// Resources of the performer container; they win over profiles.
	// +optional
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`

	// HardwareRequirements of the performer; set fields win over profiles.
	// +optional
	HardwareRequirements *hourglassv1alpha1.HardwareRequirements `json:"hardwareRequirements,omitempty"`

	// Scheduling of the performer; set fields win over profiles, tolerations are added up.
	// +optional
	Scheduling *hourglassv1alpha1.Scheduling `json:"scheduling,omitempty"`

	// Profiles to combine, by name: built-in ones (gpu, gpu-a100, tee-sgx, bottlerocket, ...)
	// and custom ones. Two profiles that disagree are an error.
	// +optional
	Profiles []string `json:"profiles,omitempty"`
}

// AVSPerformer is a performer image and its process settings.
type AVSPerformer struct {
	// Image of the performer, usually without a tag.
	// +kubebuilder:validation:MinLength=1
	Image string `json:"image"`

	// Version of the performer; the tag of the image when the image has none.
	// +optional
	Version string `json:"version,omitempty"`

	// ImagePullPolicy of the performer container.
	// +kubebuilder:validation:Enum=Always;IfNotPresent;Never
	// +optional
	ImagePullPolicy corev1.PullPolicy `json:"imagePullPolicy,omitempty"`

	// GRPCPort the performer serves on. Defaults to 9090.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +optional
	GRPCPort int32 `json:"grpcPort,omitempty"`

	// Env of the performer: plain values, or values from a Secret or ConfigMap key.
	// +optional
	Env []corev1.EnvVar `json:"env,omitempty"`

	// Args replace the image's CMD.
	// +optional
	Args []string `json:"args,omitempty"`

	// Command replaces the image's ENTRYPOINT.
	// +optional
	Command []string `json:"command,omitempty"`

	// ServiceAccountName the performer runs as.
	// +optional
	ServiceAccountName string `json:"serviceAccountName,omitempty"`

	// ImagePullSecrets for the performer image.
	// +optional
	ImagePullSecrets []corev1.LocalObjectReference `json:"imagePullSecrets,omitempty"`
}

// SigningKeyType names a key the operator signs task results with.
// +kubebuilder:validation:Enum=bls;ecdsa
type SigningKeyType string

const (
	// SigningKeyBLS signs with the BLS keystore.
	SigningKeyBLS SigningKeyType = "bls"
	// SigningKeyECDSA signs with the ECDSA private key.
	SigningKeyECDSA SigningKeyType = "ecdsa"
)

// OperatorSpec is the operator identity and where its keys come from.
type OperatorSpec struct {
	// Address is the operator's Ethereum address.
	// +kubebuilder:validation:Pattern=`^0x[0-9a-fA-F]{40}$`
	Address string `json:"address"`

	// Keys references the existing Secret that holds the operator keys.
	// +optional
	Keys *OperatorKeys `json:"keys,omitempty"`

	// SigningKeys the operator signs task results with. Defaults to bls when a BLS keystore is
	// given and to ecdsa otherwise.
	// +optional
	SigningKeys []SigningKeyType `json:"signingKeys,omitempty"`
}

// OperatorKeys names an existing Secret in the executor's namespace and the keys in it. The
// function never reads the Secret; the executor pod mounts it.
type OperatorKeys struct {
	// SecretName of the existing Secret.
	// +kubebuilder:validation:MinLength=1
	SecretName string `json:"secretName"`

	// ECDSAPrivateKey is the Secret key holding the operator's hex ECDSA private key. It signs
	// transactions and, when ecdsa is a signing key, task results. Defaults to
	// "ecdsa-private-key".
	// +optional
	ECDSAPrivateKey string `json:"ecdsaPrivateKey,omitempty"`

	// BLSKeystore is the Secret key holding a BLS keystore (JSON); it is mounted as a file.
	// +optional
	BLSKeystore string `json:"blsKeystore,omitempty"`

	// BLSPassword is the Secret key holding the BLS keystore password. Required with
	// blsKeystore.
	// +optional
	BLSPassword string `json:"blsPassword,omitempty"`
}

// SecretsSpec holds inline key material, as the Helm values file does.
type SecretsSpec struct {
	// OperatorKeys inline. Refused unless allowInlineKeys is true.
	// +optional
	OperatorKeys *InlineOperatorKeys `json:"operatorKeys,omitempty"`

	// AllowInlineKeys renders the inline keys into a Secret in the output, in base64 but not
	// encrypted, and reports a warning. Meant for throwaway test networks only.
	// +optional
	AllowInlineKeys bool `json:"allowInlineKeys,omitempty"`
}

// InlineOperatorKeys are operator keys written in the declaration.
type InlineOperatorKeys struct {
	// ECDSAPrivateKey is the hex ECDSA private key.
	// +optional
	ECDSAPrivateKey string `json:"ecdsaPrivateKey,omitempty"`

	// BLSPrivateKey is refused: the executor reads BLS keys only from a keystore.
	// +optional
	BLSPrivateKey string `json:"blsPrivateKey,omitempty"`

	// BLSKeystore is a BLS keystore (JSON).
	// +optional
	BLSKeystore string `json:"blsKeystore,omitempty"`

	// BLSPassword is the BLS keystore password.
	// +optional
	BLSPassword string `json:"blsPassword,omitempty"`
}

// PersistenceSpec is the storage of the executor's task store.
type PersistenceSpec struct {
	// Enabled keeps the task store in BadgerDB on a PersistentVolumeClaim per replica. When
	// disabled the executor keeps tasks in memory.
	// +optional
	Enabled bool `json:"enabled,omitempty"`

	// Size of each volume. Defaults to 10Gi.
	// +optional
	Size *resource.Quantity `json:"size,omitempty"`

	// StorageClassName of the volumes; the cluster default when unset.
	// +optional
	StorageClassName *string `json:"storageClassName,omitempty"`
}

// CustomProfile is a profile defined inline in the declaration.
type CustomProfile struct {
	// Name AVSs reference the profile by. Built-in names cannot be reused.
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`

	PerformerProfileSpec `json:",inline"`
}

// ProfileParameters tune the built-in profiles.
type ProfileParameters struct {
	// Bottlerocket sets the node label and taint of the bottlerocket profile.
	// +optional
	Bottlerocket *BottlerocketParameters `json:"bottlerocket,omitempty"`
}

// BottlerocketParameters are the node label and taint of Bottlerocket node pools. Kubernetes has
// no standard Bottlerocket label (kubernetes.io/os is "linux" there), so pools are labelled and
// tainted by the platform team; the defaults follow the Hourglass walkthrough.
type BottlerocketParameters struct {
	// NodeLabelKey defaults to node.kubernetes.io/os.
	// +optional
	NodeLabelKey string `json:"nodeLabelKey,omitempty"`

	// NodeLabelValue defaults to bottlerocket.
	// +optional
	NodeLabelValue string `json:"nodeLabelValue,omitempty"`

	// TaintKey defaults to bottlerocket. Set "-" for pools without a taint.
	// +optional
	TaintKey string `json:"taintKey,omitempty"`

	// TaintValue defaults to "true".
	// +optional
	TaintValue string `json:"taintValue,omitempty"`

	// TaintEffect defaults to NoSchedule.
	// +kubebuilder:validation:Enum=NoSchedule;PreferNoSchedule;NoExecute
	// +optional
	TaintEffect corev1.TaintEffect `json:"taintEffect,omitempty"`
}

// KubernetesSpec tunes the executor's kubernetes deployment-mode settings.
type KubernetesSpec struct {
	// OperatorNamespace is where the Performer controller runs. Defaults to hourglass-system.
	// +optional
	OperatorNamespace string `json:"operatorNamespace,omitempty"`

	// ConnectionTimeout of the executor's Kubernetes API calls. Defaults to 30s.
	// +optional
	ConnectionTimeout *metav1.Duration `json:"connectionTimeout,omitempty"`
}

// NetworkPolicySpec switches the performer and executor NetworkPolicies on.
type NetworkPolicySpec struct {
	// Enabled renders a NetworkPolicy that admits only this executor's pods to its performers'
	// gRPC ports, and one that admits to the executor pods only their gRPC, management and
	// metrics ports (from anywhere) and the pod's node: the forwarder's health port is left to the
	// kubelet's probes.
	// +optional
	Enabled bool `json:"enabled,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Namespaced,categories=hourglass-fn

// AVSExecutor declares an Hourglass executor and the AVSs it serves. The avs-executor KRM
// function turns it into the executor StatefulSet, its Services, RBAC and configuration, and one
// Performer per AVS. It is function configuration and is never applied to a cluster.
type AVSExecutor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec AVSExecutorSpec `json:"spec"`
}

// +kubebuilder:object:root=true

// AVSExecutorList is a list of AVSExecutors.
type AVSExecutorList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AVSExecutor `json:"items"`
}

func init() {
	SchemeBuilder.Register(&AVSExecutor{}, &AVSExecutorList{})
}

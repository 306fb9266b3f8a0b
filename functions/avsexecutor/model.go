package avsexecutor

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	fnv1alpha1 "github.com/hourglass-gitops/hourglass-gitops/api/fn/v1alpha1"
	"github.com/hourglass-gitops/hourglass-gitops/api/v1alpha1"
)

// Defaults of the declaration.
const (
	DefaultExecutorGRPCPort  int32 = 9095
	DefaultOperatorNamespace       = "hourglass-system"
	DefaultConnectionTimeout       = 30 * time.Second
	DefaultECDSAKey                = "ecdsa-private-key"
	maxExecutorName                = 52
	maxAVSName                     = v1alpha1.MaxNameLength
)

// The released Hourglass executor image, as the Hourglass chart (ponos/charts/hourglass) pins it.
const (
	DefaultExecutorRepository = "public.ecr.aws/z6g0f8n7/eigenlayer-hourglass"
	DefaultExecutorTag        = "v1.0.0-rc.2"
)

// The loopback forwarder: this project's /performer-forwarder, shipped in the Performer controller
// image at the tag of the base install (base/kustomization.yaml).
const (
	DefaultForwarderRepository       = "ghcr.io/hourglass-gitops/performer-controller"
	DefaultForwarderTag              = "v0.1.0"
	DefaultForwarderBasePort   int32 = 9101
	DefaultForwarderHealthPort int32 = 9100
	forwarderBinary                  = "/performer-forwarder"
	forwarderContainer               = "performer-forwarder"
)

// releasedL1Chains are the chain IDs the released executor has a TaskMailbox contract for (its
// embedded contract list); with any other L1 it stops at start with "task mailbox contract not
// found".
var releasedL1Chains = map[int64]string{
	1: "ethereum", 11155111: "sepolia", 8453: "base", 84532: "base-sepolia", 31337: "anvil", 31338: "base-anvil",
}

// DefaultVolumeSize is the size of each executor volume unless persistence.size says otherwise.
var DefaultVolumeSize = resource.MustParse("10Gi")

// wellKnownChains gives chain ids to the chain names people use in values files.
var wellKnownChains = map[string]int64{
	"ethereum": 1, "mainnet": 1, "ethereum-mainnet": 1,
	"sepolia": 11155111, "ethereum-sepolia": 11155111,
	"holesky": 17000, "ethereum-holesky": 17000,
	"hoodi": 560048, "ethereum-hoodi": 560048,
	"base": 8453, "base-mainnet": 8453,
	"base-sepolia": 84532,
}

// model is a resolved declaration: defaults filled in, profiles and hardware applied. Rendering
// needs nothing else and decides nothing more.
type model struct {
	decl              *fnv1alpha1.AVSExecutor
	id                string // namespace/name of the declaration
	namespace         string
	name              string // executor name
	replicas          int32
	grpcPort          int32
	mgmtPort          int32
	metrics           int32
	image             string
	l1                chain
	avss              []avsModel
	keys              keysModel
	volume            *volumeModel
	operatorNamespace string
	timeout           time.Duration
	// forwarder is the loopback forwarder of the executor pod; nil in Direct mode.
	forwarder *forwarderModel
	// maxPerformers is the Performer quota of the namespace; 0 renders none.
	maxPerformers int64
}

type forwarderModel struct {
	image      string
	pullPolicy corev1.PullPolicy
	healthPort int32
	resources  corev1.ResourceRequirements
}

type chain struct {
	rpcURL string
	// rpcURLSecret, when set, holds the URL instead of rpcURL.
	rpcURLSecret *corev1.SecretKeySelector
	chainID      int64
}

type avsModel struct {
	spec     fnv1alpha1.SupportedAVS
	profiles []string
	// hardware, scheduling and resources are the AVS's settings once profiles, its own settings
	// and the hardware mapping are merged (see package profiles for the rules).
	hardware   *v1alpha1.HardwareRequirements
	scheduling *v1alpha1.Scheduling
	resources  *corev1.ResourceRequirements
	// image is what the declared Performer runs; repository and tag name the same image for the
	// executor configuration, from which the executor creates a Performer asking for
	// repository:tag. The controller binds that Performer to the declared one only while the
	// images are equal.
	image      string
	repository string
	tag        string
	grpcPort   int32
	// endpoint is where the executor dials the performer: the forwarder's loopback port, or the
	// Performer's Service in Direct mode. listenPort is that loopback port (0 in Direct mode).
	endpoint   string
	listenPort int32
}

type keysModel struct {
	secretName  string
	ecdsaKey    string
	blsKeystore string
	blsPassword string
	signing     []fnv1alpha1.SigningKeyType
	// inline is set when the keys were written in the declaration and allowed.
	inline *fnv1alpha1.InlineOperatorKeys
}

type volumeModel struct {
	size         resource.Quantity
	storageClass *string
}

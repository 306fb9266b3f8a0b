package v1alpha1

import (
	"fmt"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/hourglass-gitops/hourglass-gitops/api/imageref"
)

// The Performer contract: how a Performer's workload is named, labelled and reached. The controller
// builds workloads by it and the function renders executor configs and NetworkPolicies by it, so
// both read it from here.
const (
	// WorkloadPrefix starts the name of a Performer's Deployment and Service: performer-<name>.
	WorkloadPrefix = "performer-"
	// MaxNameLength keeps performer-<name> a valid Service name (a DNS-1035 label of at most 63
	// characters) and <name> a valid label value. The CEL rule on Performer says the same number.
	MaxNameLength = validation.DNS1035LabelMaxLength - len(WorkloadPrefix)

	// AppLabel and AppName mark every performer pod, Deployment and Service
	// (`kubectl get pods -l app=hourglass-performer`).
	AppLabel = "app"
	AppName  = "hourglass-performer"
	// PerformerLabel carries the Performer's name; pods are mapped back to their Performer by it.
	PerformerLabel = "hourglass.eigenlayer.io/performer"
	// AVSLabel carries the AVS address the performer serves.
	AVSLabel = "hourglass.eigenlayer.io/avs"
	// ExecutorLabel on a Performer names the executor that sends it tasks.
	ExecutorLabel = "hourglass.eigenlayer.io/executor"

	// DeclarationAnnotation names the AVSExecutor declaration (namespace/name) an object was
	// rendered from. A Performer carrying it is declared in Git; a Performer written by hand in Git
	// is declared by carrying it too (by convention with the namespace/name of its source). The
	// admission policy of base/policy lets only the GitOps engines write it.
	DeclarationAnnotation = "fn.hourglass.eigenlayer.io/declaration"
)

// WorkloadName is the name of the Deployment and Service of the Performer called name.
func WorkloadName(name string) string { return WorkloadPrefix + name }

// ServiceEndpoint is the in-cluster gRPC address of the Service of the Performer called name.
func ServiceEndpoint(name, namespace string, port int32) string {
	return fmt.Sprintf("%s.%s.svc.cluster.local:%d", WorkloadName(name), namespace, port)
}

// GRPCPort is the port the performer serves gRPC on: spec.config.grpcPort or DefaultGRPCPort.
func (in *Performer) GRPCPort() int32 {
	if in.Spec.Config.GRPCPort == 0 {
		return DefaultGRPCPort
	}
	return in.Spec.Config.GRPCPort
}

// Endpoint is the in-cluster address of the performer's gRPC server.
func (in *Performer) Endpoint() string {
	return ServiceEndpoint(in.Name, in.Namespace, in.GRPCPort())
}

// Image is the image reference the performer runs: spec.image, tagged with spec.version when the
// image names neither a tag nor a digest. The controller runs it and the function's executor
// configuration asks for it, so both read it from here.
func (in *Performer) Image() string {
	if in.Spec.Version == "" || imageref.Split(in.Spec.Image).Pinned() {
		return in.Spec.Image
	}
	return in.Spec.Image + ":" + in.Spec.Version
}

// Declared tells whether the Performer was rendered from an AVSExecutor declaration.
func (in *Performer) Declared() bool {
	_, ok := in.Annotations[DeclarationAnnotation]
	return ok
}

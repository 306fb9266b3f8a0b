package v1alpha1

// Condition types and reasons of a Performer beyond the generic ones of
// github.com/fluxcd/pkg/apis/meta (Ready, Reconciling, Stalled and their reasons). They are API:
// Flux's and Argo CD's health checks, alerts and users' scripts read them.

// SuspendedCondition is True while spec.suspend is, so that a Performer whose status no longer
// moves says why.
const SuspendedCondition = "Suspended"

// Conditions and reasons of a Performer bound to a declared one: the Hourglass executor creates a
// Performer of its own for each AVS it serves; in GitOps the performer is declared in Git instead.
const (
	// BoundCondition is True on a Performer bound to a Performer declared in Git and serving
	// through it, False while the binding cannot serve it (the images differ). Its message names
	// the declared Performer.
	BoundCondition = "Bound"
	// DeclaredInGitReason: the bound Performer is served by the declared one.
	DeclaredInGitReason = "DeclaredInGit"
	// ImageNotDeclaredReason: the Performer asks for an image other than the one Git declares
	// for its AVS; only a change in Git can change the image.
	ImageNotDeclaredReason = "ImageNotDeclared"
	// NotDeclaredReason: the Performer is not declared in Git and no Performer of its AVS in its
	// namespace is; the controller runs no workload for it until one is (unless started with
	// --allow-undeclared-performers).
	NotDeclaredReason = "NotDeclared"
)

// Condition reasons beyond the generic ones of github.com/fluxcd/pkg/apis/meta.
const (
	// InvalidSpecReason: the spec passed the CRD schema but cannot be turned into a workload.
	InvalidSpecReason = "InvalidSpec"
	// ImagePullFailedReason: the performer image cannot be pulled.
	ImagePullFailedReason = "ImagePullFailed"
	// UnschedulableReason: no node can take the performer pod, typically for lack of hardware.
	UnschedulableReason = "Unschedulable"
	// ProgressDeadlineExceededReason: the Deployment gave up waiting for the rollout.
	ProgressDeadlineExceededReason = "ProgressDeadlineExceeded"
	// CreateContainerConfigErrorReason: the container cannot be created from its configuration,
	// typically a Secret or ConfigMap (key) it names is missing.
	CreateContainerConfigErrorReason = "CreateContainerConfigError"
	// FailedCreateReason: the ReplicaSet cannot create the pod, for example because Pod Security
	// admission or a quota refuses it.
	FailedCreateReason = "FailedCreate"
	// CrashLoopBackOffReason: the performer container keeps exiting and the kubelet restarts it
	// with growing delays. Not Stalled: the kubelet keeps trying and the performer may recover
	// (a dependency comes back); the progress deadline turns it into ProgressDeadlineExceeded.
	CrashLoopBackOffReason = "CrashLoopBackOff"
	// WorkloadNotOwnedReason: a Deployment or Service of the workload's name exists and this
	// Performer does not control it; the controller leaves it alone.
	WorkloadNotOwnedReason = "WorkloadNotOwned"
	// SecurityNotAllowedReason: the performer pod fails a check of the controller's Pod Security
	// level (the message names the check and the Performer field), or the spec names a
	// ServiceAccount the controller was not started to allow.
	SecurityNotAllowedReason = "SecurityNotAllowed"
)

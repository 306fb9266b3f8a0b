// Package workload builds the Deployment and Service that run a Performer, as server-side apply
// configurations. It is pure: the same Performer always gives the same objects, which is what lets
// the controller compare them with what it owns in the cluster and write nothing when they agree.
package workload

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"

	"github.com/hourglass-gitops/hourglass-gitops/api/hardware"
	"github.com/hourglass-gitops/hourglass-gitops/api/v1alpha1"
)

// Labels of performer workloads; the keys are the Performer contract's (api/v1alpha1).
const (
	AppLabel       = v1alpha1.AppLabel
	AppName        = v1alpha1.AppName
	PerformerLabel = v1alpha1.PerformerLabel
	AVSLabel       = v1alpha1.AVSLabel

	// ContainerName is the name of the performer container.
	ContainerName = "performer"
	// PortName names the gRPC port on the container and the Service.
	PortName = "grpc"

	// ManagedBy is the app.kubernetes.io/managed-by value of performer workloads.
	ManagedBy = "hourglass-controller"
)

// Name is the name of a Performer's Deployment and Service.
func Name(p *v1alpha1.Performer) string { return v1alpha1.WorkloadName(p.Name) }

// GRPCPort is the port the performer serves gRPC on.
func GRPCPort(p *v1alpha1.Performer) int32 { return p.GRPCPort() }

// SelectorLabels select a Performer's pods. They never change over the Performer's life, since a
// Deployment's selector is immutable.
func SelectorLabels(p *v1alpha1.Performer) map[string]string {
	return map[string]string{
		AppLabel:       AppName,
		PerformerLabel: p.Name,
	}
}

// Labels of a Performer's Deployment, Service and pods: the selector labels, the AVS address and
// the Kubernetes recommended labels.
func Labels(p *v1alpha1.Performer) map[string]string {
	l := SelectorLabels(p)
	l[AVSLabel] = p.Spec.AVSAddress
	l["app.kubernetes.io/name"] = AppName
	l["app.kubernetes.io/instance"] = p.Name
	l["app.kubernetes.io/component"] = "performer"
	l["app.kubernetes.io/part-of"] = "hourglass"
	l["app.kubernetes.io/managed-by"] = ManagedBy
	// A version that is no valid label value (for example one with a '+') is left out rather
	// than failing the whole performer.
	if v := p.Spec.Version; v != "" && len(validation.IsValidLabelValue(v)) == 0 {
		l["app.kubernetes.io/version"] = v
	}
	return l
}

// Strategy is the Deployment strategy of a Performer: spec.upgradeStrategy, or Recreate for
// hardware-bound performers (a scarce GPU or TEE node must not be needed twice) and a rolling
// update that surges one pod and never goes below one available otherwise.
func Strategy(p *v1alpha1.Performer) appsv1.DeploymentStrategyType {
	if s := p.Spec.UpgradeStrategy; s != nil && s.Type != "" {
		return appsv1.DeploymentStrategyType(s.Type)
	}
	if hardware.HardwareBound(p.Spec.HardwareRequirements) {
		return appsv1.RecreateDeploymentStrategyType
	}
	return appsv1.RollingUpdateDeploymentStrategyType
}

// Validate reports what the CRD schema cannot check but the workload needs: a name that fits the
// Service name, hardware combinations, and environment variables given twice.
func Validate(p *v1alpha1.Performer) []error {
	var errs field.ErrorList
	if len(p.Name) > v1alpha1.MaxNameLength || len(validation.IsDNS1035Label(p.Name)) > 0 {
		errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), p.Name, fmt.Sprintf(
			"%q cannot name Service %q: it must be a DNS-1035 label (lower case letters, digits and '-', starting with a letter) of at most %d characters",
			p.Name, Name(p), v1alpha1.MaxNameLength)))
	}
	spec := field.NewPath("spec")
	errs = append(errs, hardware.Validate(spec, p.Spec.HardwareRequirements, p.Spec.Scheduling)...)
	for i, e := range p.Spec.Config.EnvironmentFrom {
		if _, dup := p.Spec.Config.Environment[e.Name]; dup {
			errs = append(errs, &field.Error{Type: field.ErrorTypeDuplicate, Field: spec.Child("config", "environmentFrom").Index(i).Child("name").String(),
				BadValue: e.Name, Detail: fmt.Sprintf("%q is also set in spec.config.environment", e.Name)})
		}
	}
	// The field errors' details are whole sentences (see hardware.Validate); the controller's
	// conditions and events show them after the field path.
	var out []error
	for _, e := range errs {
		out = append(out, fmt.Errorf("%s: %s", e.Field, e.Detail))
	}
	return out
}

// OwnerReference makes the Performer the controller of what it owns, so that deleting it
// garbage-collects its Deployment and Service.
func OwnerReference(p *v1alpha1.Performer) *metav1ac.OwnerReferenceApplyConfiguration {
	return metav1ac.OwnerReference().
		WithAPIVersion(v1alpha1.GroupVersion.String()).
		WithKind(v1alpha1.PerformerKind).
		WithName(p.Name).
		WithUID(p.UID).
		WithController(true).
		WithBlockOwnerDeletion(true)
}

// Deployment builds the Deployment of a Performer. The Performer must have passed Validate.
func Deployment(p *v1alpha1.Performer) (*appsv1ac.DeploymentApplyConfiguration, error) {
	resolved := hardware.Resolve(p.Spec.HardwareRequirements, p.Spec.Scheduling, p.Spec.Resources)
	c, err := container(p, resolved.Resources)
	if err != nil {
		return nil, err
	}
	pod, err := podSpec(p, c, resolved.Scheduling)
	if err != nil {
		return nil, err
	}
	template := corev1ac.PodTemplateSpec().
		WithLabels(Labels(p)).
		WithSpec(pod)
	if len(p.Spec.PodAnnotations) > 0 {
		template.WithAnnotations(p.Spec.PodAnnotations)
	}
	return appsv1ac.Deployment(Name(p), p.Namespace).
		WithLabels(Labels(p)).
		WithOwnerReferences(OwnerReference(p)).
		WithSpec(appsv1ac.DeploymentSpec().
			WithReplicas(1).
			WithSelector(metav1ac.LabelSelector().WithMatchLabels(SelectorLabels(p))).
			WithStrategy(deploymentStrategy(p)).
			WithTemplate(template)), nil
}

// container is the performer's container: image, command, environment, the resources the
// hardware mapping resolved, probes and security context.
func container(p *v1alpha1.Performer, resources corev1.ResourceRequirements) (*corev1ac.ContainerApplyConfiguration, error) {
	spec := &p.Spec
	port := GRPCPort(p)
	c := corev1ac.Container().
		WithName(ContainerName).
		WithImage(p.Image()).
		WithPorts(corev1ac.ContainerPort().WithName(PortName).WithContainerPort(port).WithProtocol(corev1.ProtocolTCP))
	if spec.ImagePullPolicy != "" {
		c.WithImagePullPolicy(spec.ImagePullPolicy)
	}
	if len(spec.Config.Command) > 0 {
		c.WithCommand(spec.Config.Command...)
	}
	if len(spec.Config.Args) > 0 {
		c.WithArgs(spec.Config.Args...)
	}
	env, err := envVars(&spec.Config, port)
	if err != nil {
		return nil, err
	}
	c.WithEnv(env...)
	if len(resources.Requests) > 0 || len(resources.Limits) > 0 || len(resources.Claims) > 0 {
		r, err := Convert[corev1ac.ResourceRequirementsApplyConfiguration](roundedResources(resources))
		if err != nil {
			return nil, fmt.Errorf("spec.resources: %w", err)
		}
		c.WithResources(r)
	}
	liveness, readiness, err := probes(p, port)
	if err != nil {
		return nil, err
	}
	c.WithLivenessProbe(liveness).WithReadinessProbe(readiness)
	secCtx, err := securityContext(p)
	if err != nil {
		return nil, fmt.Errorf("spec.securityContext: %w", err)
	}
	sc, err := Convert[corev1ac.SecurityContextApplyConfiguration](secCtx)
	if err != nil {
		return nil, fmt.Errorf("spec.securityContext: %w", err)
	}
	return c.WithSecurityContext(sc), nil
}

// probes are the Performer's own liveness and readiness probes, each defaulting to a check of the
// gRPC port.
func probes(p *v1alpha1.Performer, port int32) (liveness, readiness *corev1ac.ProbeApplyConfiguration, err error) {
	liveness, readiness = defaultProbes(port)
	pr := p.Spec.Probes
	if pr != nil && pr.Liveness != nil {
		if liveness, err = Convert[corev1ac.ProbeApplyConfiguration](pr.Liveness); err != nil {
			return nil, nil, fmt.Errorf("spec.probes.liveness: %w", err)
		}
	}
	if pr != nil && pr.Readiness != nil {
		if readiness, err = Convert[corev1ac.ProbeApplyConfiguration](pr.Readiness); err != nil {
			return nil, nil, fmt.Errorf("spec.probes.readiness: %w", err)
		}
	}
	return liveness, readiness, nil
}

// podSpec is the pod of container c: its security context, ServiceAccount, pull secrets and the
// scheduling the hardware mapping resolved.
func podSpec(p *v1alpha1.Performer, c *corev1ac.ContainerApplyConfiguration, sched v1alpha1.Scheduling) (*corev1ac.PodSpecApplyConfiguration, error) {
	podSecCtx, err := podSecurityContext(p)
	if err != nil {
		return nil, fmt.Errorf("spec.podSecurityContext: %w", err)
	}
	psc, err := Convert[corev1ac.PodSecurityContextApplyConfiguration](podSecCtx)
	if err != nil {
		return nil, fmt.Errorf("spec.podSecurityContext: %w", err)
	}
	pod := corev1ac.PodSpec().WithContainers(c).WithSecurityContext(psc)
	if sa := p.Spec.Config.ServiceAccountName; sa != "" {
		pod.WithServiceAccountName(sa)
	}
	for _, s := range p.Spec.ImagePullSecrets {
		if s.Name != "" {
			pod.WithImagePullSecrets(corev1ac.LocalObjectReference().WithName(s.Name))
		}
	}
	if err := schedule(pod, sched); err != nil {
		return nil, err
	}
	return pod, nil
}

// schedule sets where pod may run: node selector, tolerations, affinity, runtime and priority
// class.
func schedule(pod *corev1ac.PodSpecApplyConfiguration, sched v1alpha1.Scheduling) error {
	if len(sched.NodeSelector) > 0 {
		pod.WithNodeSelector(sched.NodeSelector)
	}
	for i := range sched.Tolerations {
		t, err := Convert[corev1ac.TolerationApplyConfiguration](sched.Tolerations[i])
		if err != nil {
			return fmt.Errorf("spec.scheduling.tolerations[%d]: %w", i, err)
		}
		pod.WithTolerations(t)
	}
	if sched.Affinity != nil {
		a, err := Convert[corev1ac.AffinityApplyConfiguration](sched.Affinity)
		if err != nil {
			return fmt.Errorf("spec.scheduling.affinity: %w", err)
		}
		pod.WithAffinity(a)
	}
	if sched.RuntimeClass != nil && *sched.RuntimeClass != "" {
		pod.WithRuntimeClassName(*sched.RuntimeClass)
	}
	if sched.PriorityClassName != "" {
		pod.WithPriorityClassName(sched.PriorityClassName)
	}
	return nil
}

// deploymentStrategy is the Deployment's strategy (Strategy); a rolling update starts the new pod
// before it stops the old one.
func deploymentStrategy(p *v1alpha1.Performer) *appsv1ac.DeploymentStrategyApplyConfiguration {
	strategy := appsv1ac.DeploymentStrategy().WithType(Strategy(p))
	if Strategy(p) == appsv1.RollingUpdateDeploymentStrategyType {
		strategy.WithRollingUpdate(appsv1ac.RollingUpdateDeployment().
			WithMaxSurge(intstr.FromInt32(1)).
			WithMaxUnavailable(intstr.FromInt32(0)))
	}
	return strategy
}

// Service builds the ClusterIP Service that gives a Performer its stable gRPC endpoint.
func Service(p *v1alpha1.Performer) *corev1ac.ServiceApplyConfiguration {
	return corev1ac.Service(Name(p), p.Namespace).
		WithLabels(Labels(p)).
		WithOwnerReferences(OwnerReference(p)).
		WithSpec(corev1ac.ServiceSpec().
			WithType(corev1.ServiceTypeClusterIP).
			WithSelector(SelectorLabels(p)).
			WithPorts(corev1ac.ServicePort().
				WithName(PortName).
				WithProtocol(corev1.ProtocolTCP).
				WithPort(GRPCPort(p)).
				WithTargetPort(intstr.FromString(PortName))))
}

// defaultProbes use the gRPC health checking protocol, which Hourglass performers serve.
func defaultProbes(port int32) (liveness, readiness *corev1ac.ProbeApplyConfiguration) {
	liveness = corev1ac.Probe().
		WithGRPC(corev1ac.GRPCAction().WithPort(port)).
		WithInitialDelaySeconds(10).
		WithPeriodSeconds(10).
		WithFailureThreshold(3)
	readiness = corev1ac.Probe().
		WithGRPC(corev1ac.GRPCAction().WithPort(port)).
		WithPeriodSeconds(5).
		WithFailureThreshold(3)
	return liveness, readiness
}

// GRPCPortEnv tells the performer which port to serve gRPC on. Performers built from the Hourglass
// performer template read it; the executor passes it to the performers it runs itself.
const GRPCPortEnv = "GRPC_PORT"

// envVars lists the plain environment variables sorted by name, then the ones whose value comes
// from elsewhere sorted by name, so that map iteration order never changes the pod template.
// GRPC_PORT is the gRPC port unless the Performer sets it itself.
func envVars(cfg *v1alpha1.PerformerConfig, port int32) ([]*corev1ac.EnvVarApplyConfiguration, error) {
	plain := maps.Clone(cfg.Environment)
	if plain == nil {
		plain = map[string]string{}
	}
	setFrom := slices.ContainsFunc(cfg.EnvironmentFrom, func(e v1alpha1.EnvVarFrom) bool { return e.Name == GRPCPortEnv })
	if _, set := plain[GRPCPortEnv]; !set && !setFrom {
		plain[GRPCPortEnv] = strconv.Itoa(int(port))
	}
	names := slices.Sorted(maps.Keys(plain))
	out := make([]*corev1ac.EnvVarApplyConfiguration, 0, len(names)+len(cfg.EnvironmentFrom))
	for _, n := range names {
		out = append(out, corev1ac.EnvVar().WithName(n).WithValue(plain[n]))
	}
	from := append([]v1alpha1.EnvVarFrom(nil), cfg.EnvironmentFrom...)
	sort.SliceStable(from, func(i, j int) bool { return from[i].Name < from[j].Name })
	for _, e := range from {
		src, err := Convert[corev1ac.EnvVarSourceApplyConfiguration](withEnvSourceDefaults(e.ValueFrom))
		if err != nil {
			return nil, fmt.Errorf("spec.config.environmentFrom %q: %w", e.Name, err)
		}
		out = append(out, corev1ac.EnvVar().WithName(e.Name).WithValueFrom(src))
	}
	return out, nil
}

// The API server defaults some fields inside structs that server-side apply treats as one value
// (atomic), and rounds quantities to milli units. The controller sets the same values itself, so
// that the fields it owns read back exactly as it applied them and an unchanged Performer compares
// equal to its Deployment.

// withEnvSourceDefaults is src with the API server's defaults of a field reference's apiVersion
// and a file key reference's optional.
func withEnvSourceDefaults(src corev1.EnvVarSource) corev1.EnvVarSource {
	src = *src.DeepCopy()
	if src.FieldRef != nil && src.FieldRef.APIVersion == "" {
		src.FieldRef.APIVersion = "v1"
	}
	if src.FileKeyRef != nil && src.FileKeyRef.Optional == nil {
		optional := false
		src.FileKeyRef.Optional = &optional
	}
	return src
}

// roundedResources is r with every quantity rounded up to milli units, as the API server stores it.
func roundedResources(r corev1.ResourceRequirements) corev1.ResourceRequirements {
	r = *r.DeepCopy()
	for _, list := range []corev1.ResourceList{r.Requests, r.Limits} {
		for name, q := range list {
			q.RoundUp(-3)
			list[name] = q
		}
	}
	return r
}

// Convert turns a value into another type of the same JSON form: a core API value into its apply
// configuration, or an apply configuration into the object it describes. The
// typed values carry no fields that omitempty would keep as zero values.
func Convert[T any](in any) (*T, error) {
	b, err := json.Marshal(in)
	if err != nil {
		return nil, err
	}
	out := new(T)
	if err := json.Unmarshal(b, out); err != nil {
		return nil, err
	}
	return out, nil
}

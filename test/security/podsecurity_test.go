package security

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fluxcd/pkg/ssa/utils"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/hourglass-gitops/hourglass-gitops/api/hardware"
	"github.com/hourglass-gitops/hourglass-gitops/api/v1alpha1"
	"github.com/hourglass-gitops/hourglass-gitops/test/framework/process"
)

// restrictedNamespace enforces the restricted Pod Security Standard at the API server's version.
const restrictedNamespace = "psa-restricted"

func setupRestricted(t *testing.T) {
	t.Helper()
	ensureNamespace(t, restrictedNamespace,
		"pod-security.kubernetes.io/enforce", "restricted",
		"pod-security.kubernetes.io/enforce-version", "latest")
	// Admission refuses pods naming a RuntimeClass that does not exist; a cluster running Kata
	// Confidential Containers has these.
	for _, rc := range []string{hardware.RuntimeClassSNP, hardware.RuntimeClassTDX, hardware.RuntimeClassGPUSNP, hardware.RuntimeClassGPUTDX, hardware.RuntimeClassAKSCC} {
		obj := &nodev1.RuntimeClass{ObjectMeta: objectMeta("", rc), Handler: rc}
		if err := env.Client.Create(context.Background(), obj); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	// The control: a pod without any security settings is refused, so the namespace really
	// enforces the restricted profile and the admissions below mean something.
	weak := &corev1.Pod{ObjectMeta: objectMeta(restrictedNamespace, "unhardened"),
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox:1.36"}}}}
	serviceAccountFor(t, &weak.Spec)
	err := env.Client.Create(context.Background(), weak, client.DryRunAll)
	if err == nil || !strings.Contains(err.Error(), "violates PodSecurity") {
		t.Fatalf("namespace %s does not enforce the restricted Pod Security Standard: an unhardened pod got %v", restrictedNamespace, err)
	}
}

// serviceAccountFor creates the pod's ServiceAccount: the ServiceAccount admission plugin refuses
// a pod whose account does not exist, and envtest runs no controller that makes "default".
func serviceAccountFor(t *testing.T, spec *corev1.PodSpec) {
	t.Helper()
	name := spec.ServiceAccountName
	if name == "" {
		name = "default"
	}
	sa := &corev1.ServiceAccount{ObjectMeta: objectMeta(restrictedNamespace, name)}
	if err := env.Client.Create(context.Background(), sa); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// admit dry-run creates a pod from a pod template in the restricted namespace, as a ReplicaSet
// or StatefulSet controller would, and returns the API server's answer.
func admit(t *testing.T, name string, tmpl corev1.PodTemplateSpec, claims []corev1.PersistentVolumeClaim) error {
	t.Helper()
	pod := &corev1.Pod{ObjectMeta: tmpl.ObjectMeta, Spec: *tmpl.Spec.DeepCopy()}
	pod.Namespace, pod.Name, pod.GenerateName = restrictedNamespace, name, ""
	// The StatefulSet controller adds a volume per claim template.
	for _, c := range claims {
		pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: c.Name, VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: c.Name + "-" + name + "-0"}}})
	}
	serviceAccountFor(t, &pod.Spec)
	return env.Client.Create(context.Background(), pod, client.DryRunAll)
}

// TestExamplesPassRestricted: the workloads every example renders (the executor StatefulSet and
// anything else with a pod template) and the Deployments the controller makes from every
// example's Performers are admitted under the restricted Pod Security Standard.
func TestExamplesPassRestricted(t *testing.T) {
	setupRestricted(t)
	examples := renderExamples(t)
	var performers []*v1alpha1.Performer
	workloads := 0
	for _, e := range examples {
		for _, o := range e.Objects {
			switch o.GetKind() {
			case "StatefulSet", "Deployment", "DaemonSet", "Job":
				workloads++
				tmpl, claims := podTemplate(t, o)
				if err := admit(t, e.Name+"-"+o.GetName(), tmpl, claims); err != nil {
					t.Errorf("examples/%s: %s is refused: %v", e.Name, utils.FmtUnstructured(o), err)
				}
			case "Performer":
				var p v1alpha1.Performer
				if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(o.Object, &p, true); err != nil {
					t.Fatalf("examples/%s: %s: %v", e.Name, utils.FmtUnstructured(o), err)
				}
				name := e.Name + "-" + p.Name
				if len(name) > v1alpha1.MaxNameLength {
					name = name[:v1alpha1.MaxNameLength]
				}
				performers = append(performers, &v1alpha1.Performer{ObjectMeta: objectMeta(restrictedNamespace, strings.TrimRight(name, "-")), Spec: p.Spec})
			}
		}
	}
	if len(performers) < len(examples) {
		t.Fatalf("%d Performers in %d examples: every example renders at least one", len(performers), len(examples))
	}
	deployments := reconcile(t, restrictedNamespace, performers)
	for _, p := range performers {
		if err := admit(t, p.Name, deployments[p.Name].Spec.Template, nil); err != nil {
			t.Errorf("the controller's pod for Performer %s (from an example) is refused: %v", p.Name, err)
		}
	}
	if workloads < len(examples) {
		t.Errorf("%d workloads in %d examples: every example renders an executor", workloads, len(examples))
	}
	t.Logf("%d examples: %d rendered workloads and %d Performers' pods checked under restricted", len(examples), workloads, len(performers))
}

// TestPerformerShapesPassRestricted: every kind of Performer the controller knows (plain, GPU,
// SGX, SEV-SNP, TDX, confidential GPU, Bottlerocket, and with the user's own security contexts)
// becomes a pod the restricted profile admits.
//
// No GPU or TEE exception is needed: the NVIDIA device plugin and Intel's SGX device plugin hand
// devices over through extended resources (nvidia.com/gpu, sgx.intel.com/epc), and SEV-SNP and
// TDX isolate the pod inside a Kata VM selected by runtimeClassName; none of that needs
// privileged mode, host namespaces, hostPath or added capabilities.
//
// A user's podSecurityContext and securityContext refine the controller's restricted defaults
// field by field, so partial ones (only fsGroup, only readOnlyRootFilesystem) stay admitted. What
// restricted forbids the controller refuses by itself with the same evaluator (Stalled,
// SecurityNotAllowed, no workload) unless started with a lower --pod-security-level (or the
// deprecated --allow-privileged-performers); then it makes the Deployment and the restricted
// namespace refuses the pod, the second line of defence.
func TestPerformerShapesPassRestricted(t *testing.T) {
	setupRestricted(t)
	restrictedPod := &corev1.PodSecurityContext{
		RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](10001), RunAsGroup: ptr.To[int64](10001), FSGroup: ptr.To[int64](10001),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
	restrictedContainer := &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr.To(false), ReadOnlyRootFilesystem: ptr.To(true), RunAsNonRoot: ptr.To(true),
		Capabilities:   &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeLocalhost, LocalhostProfile: ptr.To("profiles/performer.json")},
	}
	hw := func(h v1alpha1.HardwareRequirements) func(*v1alpha1.PerformerSpec) {
		return func(s *v1alpha1.PerformerSpec) { s.HardwareRequirements = &h }
	}
	cases := []struct {
		name    string
		mutate  func(*v1alpha1.PerformerSpec)
		refused string // part of the admission refusal, empty when the pod must be admitted
	}{
		{name: "plain"},
		{name: "gpu", mutate: hw(v1alpha1.HardwareRequirements{GPUType: "nvidia-a100", GPUCount: 1})},
		{name: "gpu-product", mutate: hw(v1alpha1.HardwareRequirements{GPUType: "NVIDIA-H100-80GB-HBM3", GPUCount: 2})},
		{name: "sgx", mutate: hw(v1alpha1.HardwareRequirements{TEERequired: true, TEEType: v1alpha1.TEETypeSGX})},
		{name: "sev-snp", mutate: hw(v1alpha1.HardwareRequirements{TEERequired: true, TEEType: v1alpha1.TEETypeSEVSNP})},
		{name: "tdx", mutate: hw(v1alpha1.HardwareRequirements{TEERequired: true, TEEType: v1alpha1.TEETypeTDX})},
		{name: "sev-snp-gpu", mutate: hw(v1alpha1.HardwareRequirements{TEERequired: true, TEEType: v1alpha1.TEETypeSEVSNP, GPUCount: 1})},
		{name: "tdx-gpu", mutate: hw(v1alpha1.HardwareRequirements{TEERequired: true, TEEType: v1alpha1.TEETypeTDX, GPUCount: 1})},
		{name: "custom-labels", mutate: hw(v1alpha1.HardwareRequirements{CustomLabels: map[string]string{"example.com/fpga": "true"}})},
		{name: "bottlerocket", mutate: func(s *v1alpha1.PerformerSpec) {
			s.Scheduling = &v1alpha1.Scheduling{
				NodeSelector: map[string]string{"node.kubernetes.io/os": "bottlerocket"},
				Tolerations:  []corev1.Toleration{{Key: "bottlerocket", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}},
			}
		}},
		{name: "aks-confidential", mutate: func(s *v1alpha1.PerformerSpec) {
			s.Scheduling = &v1alpha1.Scheduling{RuntimeClass: ptr.To(hardware.RuntimeClassAKSCC)}
		}},
		{name: "env-args-probes-sa", mutate: func(s *v1alpha1.PerformerSpec) {
			s.Config.Environment = map[string]string{"LOG_LEVEL": "debug"}
			s.Config.Args = []string{"--verbose"}
			s.Config.ServiceAccountName = "performer"
			s.Resources = &corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")}}
		}},
		{name: "user-contexts-complete", mutate: func(s *v1alpha1.PerformerSpec) {
			s.PodSecurityContext = restrictedPod.DeepCopy()
			s.SecurityContext = restrictedContainer.DeepCopy()
		}},
		{name: "user-contexts-gpu-sgx", mutate: func(s *v1alpha1.PerformerSpec) {
			s.HardwareRequirements = &v1alpha1.HardwareRequirements{GPUCount: 1, TEERequired: true, TEEType: v1alpha1.TEETypeSGX}
			s.PodSecurityContext = restrictedPod.DeepCopy()
			s.SecurityContext = restrictedContainer.DeepCopy()
		}},
		{name: "user-pod-context-complete", mutate: func(s *v1alpha1.PerformerSpec) { s.PodSecurityContext = restrictedPod.DeepCopy() }},
		{name: "user-container-context-complete", mutate: func(s *v1alpha1.PerformerSpec) { s.SecurityContext = restrictedContainer.DeepCopy() }},
		// Partial user contexts keep the defaults they do not mention.
		{name: "user-pod-context-fsgroup-only", mutate: func(s *v1alpha1.PerformerSpec) {
			s.PodSecurityContext = &corev1.PodSecurityContext{FSGroup: ptr.To[int64](2000)}
		}},
		{name: "user-container-context-rofs-only", mutate: func(s *v1alpha1.PerformerSpec) {
			s.SecurityContext = &corev1.SecurityContext{ReadOnlyRootFilesystem: ptr.To(true)}
		}},
		{name: "user-capability-add", refused: "", mutate: func(s *v1alpha1.PerformerSpec) {
			// restricted allows adding NET_BIND_SERVICE only; the default drop: [ALL] stays.
			s.SecurityContext = &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_BIND_SERVICE"}}}
		}},
	}
	var performers []*v1alpha1.Performer
	for _, tc := range cases {
		p := &v1alpha1.Performer{ObjectMeta: objectMeta(restrictedNamespace, "shape-"+tc.name), Spec: v1alpha1.PerformerSpec{
			AVSAddress: "0x1234567890abcdef1234567890abcdef12345678",
			Image:      "ghcr.io/example/performer",
			Version:    "v1.0.0",
		}}
		if tc.mutate != nil {
			tc.mutate(&p.Spec)
		}
		performers = append(performers, p)
	}
	deployments := reconcile(t, restrictedNamespace, performers, "--allowed-service-accounts=performer")
	for i, tc := range cases {
		p := performers[i]
		t.Run(tc.name, func(t *testing.T) {
			err := admit(t, p.Name, deployments[p.Name].Spec.Template, nil)
			switch {
			case tc.refused == "" && err != nil:
				t.Errorf("the pod of Performer %s is refused under restricted: %v", p.Name, err)
			case tc.refused != "" && err == nil:
				t.Errorf("the pod of Performer %s is admitted; want it refused for %s", p.Name, tc.refused)
			case tc.refused != "" && !strings.Contains(err.Error(), tc.refused):
				t.Errorf("the pod of Performer %s is refused for another reason than %s: %v", p.Name, tc.refused, err)
			}
		})
	}
}

func podTemplate(t *testing.T, o *unstructured.Unstructured) (corev1.PodTemplateSpec, []corev1.PersistentVolumeClaim) {
	t.Helper()
	var holder struct {
		Spec struct {
			Template             corev1.PodTemplateSpec         `json:"template"`
			VolumeClaimTemplates []corev1.PersistentVolumeClaim `json:"volumeClaimTemplates"`
		} `json:"spec"`
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &holder); err != nil {
		t.Fatalf("%s: %v", utils.FmtUnstructured(o), err)
	}
	return holder.Spec.Template, holder.Spec.VolumeClaimTemplates
}

// reconcile creates the Performers, runs the real controller binary against the test API server
// until each has its Deployment, and returns the Deployments by Performer name.
func reconcile(t *testing.T, namespace string, performers []*v1alpha1.Performer, flags ...string) map[string]*appsv1.Deployment {
	t.Helper()
	ctx := context.Background()
	for _, p := range performers {
		if err := env.Client.Create(ctx, p.DeepCopy()); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("creating Performer %s: %v", p.Name, err)
		}
	}
	stop := runController(t, namespace, flags...)
	defer stop()
	out := map[string]*appsv1.Deployment{}
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 90*time.Second, true, func(ctx context.Context) (bool, error) {
		all := true
		for _, p := range performers {
			if out[p.Name] != nil {
				continue
			}
			var d appsv1.Deployment
			err := env.Client.Get(ctx, types.NamespacedName{Namespace: p.Namespace, Name: v1alpha1.WorkloadName(p.Name)}, &d)
			if apierrors.IsNotFound(err) {
				all = false
				continue
			}
			if err != nil {
				return false, err
			}
			out[p.Name] = &d
		}
		return all, nil
	})
	if err != nil {
		var missing []string
		for _, p := range performers {
			if out[p.Name] == nil {
				var got v1alpha1.Performer
				_ = env.Client.Get(ctx, client.ObjectKeyFromObject(p), &got)
				missing = append(missing, fmt.Sprintf("%s (conditions %+v)", p.Name, got.Status.Conditions))
			}
		}
		t.Fatalf("the controller made no Deployment for: %s: %v", strings.Join(missing, "; "), err)
	}
	return out
}

// runController builds the controller and runs it against the test API server, reconciling
// namespace; the returned function stops it.
func runController(t *testing.T, namespace string, flags ...string) func() {
	t.Helper()
	bin := process.Build(t, "./controller")
	// The shapes are not declared in Git: --allow-undeclared-performers gives them workloads.
	p := process.Start(t, bin, nil, append([]string{"--kubeconfig=" + process.Kubeconfig(t, env.KubeConfig),
		"--metrics-bind-address=0", "--health-probe-bind-address=0",
		"--watch-namespaces=" + namespace, "--allow-undeclared-performers"}, flags...)...)
	return func() { _ = p.Stop() }
}

// privilegedShapes are what the restricted profile exists to stop.
func privilegedShapes(namespace string) []*v1alpha1.Performer {
	restricted := func(name string, mutate func(*v1alpha1.PerformerSpec)) *v1alpha1.Performer {
		p := &v1alpha1.Performer{ObjectMeta: objectMeta(namespace, name), Spec: v1alpha1.PerformerSpec{
			AVSAddress: "0x1234567890abcdef1234567890abcdef12345678", Image: "ghcr.io/example/performer", Version: "v1.0.0",
		}}
		mutate(&p.Spec)
		return p
	}
	return []*v1alpha1.Performer{
		restricted("privileged", func(s *v1alpha1.PerformerSpec) {
			s.SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true), AllowPrivilegeEscalation: ptr.To(true)}
		}),
		restricted("escalation", func(s *v1alpha1.PerformerSpec) {
			s.SecurityContext = &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(true)}
		}),
		restricted("root", func(s *v1alpha1.PerformerSpec) {
			s.PodSecurityContext = &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(false), RunAsUser: ptr.To[int64](0)}
		}),
	}
}

// TestPrivilegedPerformersRefused: the controller refuses privileged, escalating and root
// Performers itself (Stalled, SecurityNotAllowed, no Deployment); started with the deprecated
// --allow-privileged-performers (--pod-security-level=privileged) it makes their Deployments, and
// a restricted namespace still refuses their pods.
func TestPrivilegedPerformersRefused(t *testing.T) {
	setupRestricted(t)
	ctx := context.Background()
	t.Run("by the controller", func(t *testing.T) {
		const ns = "psa-refused-by-controller"
		ensureNamespace(t, ns)
		performers := privilegedShapes(ns)
		for _, p := range performers {
			if err := env.Client.Create(ctx, p.DeepCopy()); err != nil {
				t.Fatal(err)
			}
		}
		stop := runController(t, ns)
		defer stop()
		for _, p := range performers {
			var got v1alpha1.Performer
			err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
				if err := env.Client.Get(ctx, client.ObjectKeyFromObject(p), &got); err != nil {
					return false, err
				}
				return got.Status.ObservedGeneration == got.Generation, nil
			})
			if err != nil {
				t.Fatalf("Performer %s not reconciled: %v", p.Name, err)
			}
			stalled := false
			for _, c := range got.Status.Conditions {
				if c.Type == "Stalled" && c.Status == "True" && c.Reason == "SecurityNotAllowed" {
					stalled = true
				}
			}
			if !stalled {
				t.Errorf("Performer %s: want Stalled with reason SecurityNotAllowed, got %+v", p.Name, got.Status.Conditions)
			}
			var d appsv1.Deployment
			err = env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: v1alpha1.WorkloadName(p.Name)}, &d)
			if !apierrors.IsNotFound(err) {
				t.Errorf("Performer %s: want no Deployment, got %v", p.Name, err)
			}
		}
	})
	t.Run("by admission when the controller allows them", func(t *testing.T) {
		performers := privilegedShapes(restrictedNamespace)
		for _, p := range performers {
			p.Name = "allowed-" + p.Name
		}
		deployments := reconcile(t, restrictedNamespace, performers, "--allow-privileged-performers")
		for _, p := range performers {
			err := admit(t, p.Name, deployments[p.Name].Spec.Template, nil)
			if err == nil || !strings.Contains(err.Error(), "violates PodSecurity") {
				t.Errorf("the pod of Performer %s is not refused by restricted Pod Security: %v", p.Name, err)
			}
		}
	})
}

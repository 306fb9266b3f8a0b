package workload

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/hourglass-gitops/hourglass-gitops/api/v1alpha1"
)

// The expected objects in testdata are written by hand from the mapping in docs/hardware.md and
// the workload rules in the package documentation; they are not produced by this code.
//
//	testdata/<case>/performer.yaml   input
//	testdata/<case>/deployment.yaml  the whole Deployment, when present
//	testdata/<case>/service.yaml     the whole Service, when present
//	testdata/<case>/pod.yaml         {strategy, podSpec} of the Deployment, when present
func TestBuild(t *testing.T) {
	dirs, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		dir := filepath.Join("testdata", d.Name())
		t.Run(d.Name(), func(t *testing.T) {
			var p v1alpha1.Performer
			if err := yaml.UnmarshalStrict(read(t, filepath.Join(dir, "performer.yaml")), &p); err != nil {
				t.Fatalf("performer.yaml: %v", err)
			}
			if errs := Validate(&p); len(errs) > 0 {
				t.Fatalf("Validate: %v", errs)
			}
			dep, err := Deployment(&p)
			if err != nil {
				t.Fatalf("Deployment: %v", err)
			}
			got := toMap(t, dep)
			checked := 0
			if want, ok := readYAML(t, filepath.Join(dir, "deployment.yaml")); ok {
				checked++
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("Deployment (-want +got):\n%s", diff)
				}
			}
			if want, ok := readYAML(t, filepath.Join(dir, "pod.yaml")); ok {
				checked++
				spec := got["spec"].(map[string]any)
				part := map[string]any{
					"strategy": spec["strategy"],
					"podSpec":  spec["template"].(map[string]any)["spec"],
				}
				if diff := cmp.Diff(want, part); diff != "" {
					t.Errorf("Deployment strategy and pod spec (-want +got):\n%s", diff)
				}
			}
			if want, ok := readYAML(t, filepath.Join(dir, "service.yaml")); ok {
				checked++
				if diff := cmp.Diff(want, toMap(t, Service(&p))); diff != "" {
					t.Errorf("Service (-want +got):\n%s", diff)
				}
			}
			if checked == 0 {
				t.Fatal("no expected object in " + dir)
			}

			// The output must be valid for the typed API: decode it strictly into the core types.
			var typedDep appsv1.Deployment
			if err := yaml.UnmarshalStrict(toJSON(t, dep), &typedDep); err != nil {
				t.Errorf("Deployment does not decode into apps/v1: %v", err)
			}
			var typedSvc corev1.Service
			if err := yaml.UnmarshalStrict(toJSON(t, Service(&p)), &typedSvc); err != nil {
				t.Errorf("Service does not decode into v1: %v", err)
			}
		})
	}
}

// Building the same Performer twice gives byte-identical objects even with many environment
// variables, whose map order Go randomises.
func TestBuildIsDeterministic(t *testing.T) {
	p := performer()
	p.Spec.Config.Environment = map[string]string{}
	for _, k := range strings.Fields("Q W E R T Y U I O P A S D F G H J K L Z X C V B N M") {
		p.Spec.Config.Environment["VAR_"+k] = k
	}
	p.Spec.HardwareRequirements = &v1alpha1.HardwareRequirements{
		GPUCount: 1, TEERequired: true, TEEType: v1alpha1.TEETypeSGX,
		CustomLabels: map[string]string{"a": "1", "b": "2", "c": "3", "d": "4"},
	}
	first, err := Deployment(p)
	if err != nil {
		t.Fatal(err)
	}
	want := string(toJSON(t, first))
	for i := 0; i < 20; i++ {
		d, err := Deployment(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(toJSON(t, d)); got != want {
			t.Fatalf("build %d differs:\n%s", i, cmp.Diff(want, got))
		}
	}
	var names []string
	for _, e := range first.Spec.Template.Spec.Containers[0].Env {
		names = append(names, *e.Name)
	}
	wantNames := strings.Fields("GRPC_PORT VAR_A VAR_B VAR_C VAR_D VAR_E VAR_F VAR_G VAR_H VAR_I VAR_J VAR_K VAR_L VAR_M VAR_N VAR_O VAR_P VAR_Q VAR_R VAR_S VAR_T VAR_U VAR_V VAR_W VAR_X VAR_Y VAR_Z")
	if diff := cmp.Diff(wantNames, names); diff != "" {
		t.Errorf("env order (-want +got):\n%s", diff)
	}
}

// Values the API server would default or round inside fields it stores as a whole are set the
// same way here, so the Deployment reads back as applied.
func TestServerDefaults(t *testing.T) {
	p := performer()
	p.Spec.Config.EnvironmentFrom = []v1alpha1.EnvVarFrom{
		{Name: "NODE", ValueFrom: corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}},
		{Name: "POD", ValueFrom: corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.name"}}},
	}
	p.Spec.Resources = &corev1.ResourceRequirements{
		Requests: corev1.ResourceList{"cpu": resource.MustParse("1.0001"), "memory": resource.MustParse("0.5Gi")},
		Limits:   corev1.ResourceList{"cpu": resource.MustParse("0.0000001")},
	}
	dep, err := Deployment(p)
	if err != nil {
		t.Fatal(err)
	}
	c := toMap(t, dep.Spec.Template.Spec.Containers[0])
	want, _ := readYAMLString(t, `
env:
- name: GRPC_PORT
  value: "9090"
- name: NODE
  valueFrom: {fieldRef: {apiVersion: v1, fieldPath: spec.nodeName}}
- name: POD
  valueFrom: {fieldRef: {apiVersion: v1, fieldPath: metadata.name}}
resources:
  requests: {cpu: 1001m, memory: 512Mi}
  limits: {cpu: 1m}
`)
	got := map[string]any{"env": c["env"], "resources": c["resources"]}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if q := p.Spec.Resources.Requests["cpu"]; q.String() != "1000100u" {
		t.Errorf("building the Deployment changed the Performer's resources: cpu %s", q.String())
	}
}

// GRPC_PORT follows the gRPC port unless the Performer sets it, as a value or from a source.
func TestGRPCPortEnv(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*v1alpha1.Performer)
		want   []string // name=value, or name<- for a value from a source
	}{
		{name: "default port", mutate: func(*v1alpha1.Performer) {}, want: []string{"GRPC_PORT=9090"}},
		{name: "the template's port", mutate: func(p *v1alpha1.Performer) { p.Spec.Config.GRPCPort = 8080 }, want: []string{"GRPC_PORT=8080"}},
		{name: "set as a value", mutate: func(p *v1alpha1.Performer) {
			p.Spec.Config.GRPCPort = 8080
			p.Spec.Config.Environment = map[string]string{"GRPC_PORT": "7000"}
		}, want: []string{"GRPC_PORT=7000"}},
		{name: "set from a ConfigMap", mutate: func(p *v1alpha1.Performer) {
			p.Spec.Config.EnvironmentFrom = []v1alpha1.EnvVarFrom{{Name: "GRPC_PORT", ValueFrom: corev1.EnvVarSource{
				ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "ports"}, Key: "grpc"}}}}
		}, want: []string{"GRPC_PORT<-"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := performer()
			p.Spec.Config.Environment, p.Spec.Config.EnvironmentFrom = nil, nil
			tc.mutate(p)
			dep, err := Deployment(p)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range dep.Spec.Template.Spec.Containers[0].Env {
				if e.ValueFrom != nil {
					got = append(got, *e.Name+"<-")
				} else {
					got = append(got, *e.Name+"="+*e.Value)
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("env (-want +got):\n%s", diff)
			}
		})
	}
}

func TestImage(t *testing.T) {
	for _, tc := range []struct{ image, version, want string }{
		{"my-org/perf", "v1.0.0", "my-org/perf:v1.0.0"},
		{"my-org/perf", "", "my-org/perf"},
		{"my-org/perf:v2", "v1.0.0", "my-org/perf:v2"},
		{"localhost:5000/perf", "v1", "localhost:5000/perf:v1"},
		{"localhost:5000/perf:v3", "v1", "localhost:5000/perf:v3"},
		{"ghcr.io/a/b@sha256:abc", "v1", "ghcr.io/a/b@sha256:abc"},
		{"perf", "1.2.3", "perf:1.2.3"},
	} {
		p := performer()
		p.Spec.Image, p.Spec.Version = tc.image, tc.version
		if got := p.Image(); got != tc.want {
			t.Errorf("Image(%q, version %q) = %q, want %q", tc.image, tc.version, got, tc.want)
		}
	}
}

func TestStrategy(t *testing.T) {
	for _, tc := range []struct {
		name string
		hw   *v1alpha1.HardwareRequirements
		set  v1alpha1.UpgradeStrategyType
		want appsv1.DeploymentStrategyType
	}{
		{"plain", nil, "", appsv1.RollingUpdateDeploymentStrategyType},
		{"custom labels only", &v1alpha1.HardwareRequirements{CustomLabels: map[string]string{"a": "b"}}, "", appsv1.RollingUpdateDeploymentStrategyType},
		{"gpu", &v1alpha1.HardwareRequirements{GPUCount: 1}, "", appsv1.RecreateDeploymentStrategyType},
		{"gpu type", &v1alpha1.HardwareRequirements{GPUType: "nvidia-l4"}, "", appsv1.RecreateDeploymentStrategyType},
		{"tee", &v1alpha1.HardwareRequirements{TEERequired: true, TEEType: v1alpha1.TEETypeTDX}, "", appsv1.RecreateDeploymentStrategyType},
		{"gpu, explicit rolling", &v1alpha1.HardwareRequirements{GPUCount: 1}, v1alpha1.RollingUpdateStrategy, appsv1.RollingUpdateDeploymentStrategyType},
		{"plain, explicit recreate", nil, v1alpha1.RecreateStrategy, appsv1.RecreateDeploymentStrategyType},
	} {
		p := performer()
		p.Spec.HardwareRequirements = tc.hw
		if tc.set != "" {
			p.Spec.UpgradeStrategy = &v1alpha1.UpgradeStrategy{Type: tc.set}
		}
		if got := Strategy(p); got != tc.want {
			t.Errorf("%s: Strategy = %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestValidate(t *testing.T) {
	rc := "kata-qemu-tdx"
	for _, tc := range []struct {
		name   string
		mutate func(*v1alpha1.Performer)
		want   []string
	}{
		{"valid", func(*v1alpha1.Performer) {}, nil},
		{"name too long for a Service", func(p *v1alpha1.Performer) { p.Name = strings.Repeat("a", 54) }, []string{
			`metadata.name: "` + strings.Repeat("a", 54) + `" cannot name Service "performer-` + strings.Repeat("a", 54) + `": it must be a DNS-1035 label (lower case letters, digits and '-', starting with a letter) of at most 53 characters`,
		}},
		{"longest name", func(p *v1alpha1.Performer) { p.Name = strings.Repeat("a", 53) }, nil},
		{"name starting with a digit", func(p *v1alpha1.Performer) { p.Name = "1st" }, []string{
			`metadata.name: "1st" cannot name Service "performer-1st": it must be a DNS-1035 label (lower case letters, digits and '-', starting with a letter) of at most 53 characters`,
		}},
		{"tee without type", func(p *v1alpha1.Performer) {
			p.Spec.HardwareRequirements = &v1alpha1.HardwareRequirements{TEERequired: true}
		}, []string{"spec.hardwareRequirements.teeType: is required when teeRequired is true (one of sgx, sev-snp, tdx)"}},
		{"gpu on a confidential runtime without gpu", func(p *v1alpha1.Performer) {
			p.Spec.HardwareRequirements = &v1alpha1.HardwareRequirements{GPUCount: 2}
			p.Spec.Scheduling = &v1alpha1.Scheduling{RuntimeClass: &rc}
		}, []string{`spec.scheduling.runtimeClass: runtime class "kata-qemu-tdx" cannot pass GPUs through, but hardwareRequirements.gpuCount is 2`}},
		{"env set twice", func(p *v1alpha1.Performer) {
			p.Spec.Config.Environment = map[string]string{"A": "1", "B": "2"}
			p.Spec.Config.EnvironmentFrom = []v1alpha1.EnvVarFrom{
				{Name: "C", ValueFrom: corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}},
				{Name: "B", ValueFrom: corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}},
			}
		}, []string{`spec.config.environmentFrom[1].name: "B" is also set in spec.config.environment`}},
	} {
		p := performer()
		tc.mutate(p)
		var got []string
		for _, err := range Validate(p) {
			got = append(got, err.Error())
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s: errors (-want +got):\n%s", tc.name, diff)
		}
	}
}

func TestLabels(t *testing.T) {
	p := performer()
	p.Spec.Version = "v1.2.3"
	if got := Labels(p)["app.kubernetes.io/version"]; got != "v1.2.3" {
		t.Errorf("version label = %q, want v1.2.3", got)
	}
	// The selector must survive a version or AVS change, since a Deployment's selector is immutable.
	before := SelectorLabels(p)
	p.Spec.Version = "v9"
	p.Spec.AVSAddress = "0x0000000000000000000000000000000000000001"
	if diff := cmp.Diff(before, SelectorLabels(p)); diff != "" {
		t.Errorf("selector changed with version and AVS (-before +after):\n%s", diff)
	}
	for k, v := range SelectorLabels(p) {
		if Labels(p)[k] != v {
			t.Errorf("label %s=%s of the selector is missing from the labels", k, v)
		}
	}
	p.Spec.Version = strings.Repeat("v", 64)
	if _, ok := Labels(p)["app.kubernetes.io/version"]; ok {
		t.Error("a version longer than 63 characters must not become a label")
	}
}

func TestEndpoint(t *testing.T) {
	p := performer()
	if got, want := p.Endpoint(), "performer-my-avs.my-avs-project.svc.cluster.local:9090"; got != want {
		t.Errorf("Endpoint = %q, want %q", got, want)
	}
	p.Spec.Config.GRPCPort = 7000
	if got, want := p.Endpoint(), "performer-my-avs.my-avs-project.svc.cluster.local:7000"; got != want {
		t.Errorf("Endpoint = %q, want %q", got, want)
	}
}

func performer() *v1alpha1.Performer {
	return &v1alpha1.Performer{
		ObjectMeta: metav1.ObjectMeta{Name: "my-avs", Namespace: "my-avs-project", UID: "uid-1"},
		Spec: v1alpha1.PerformerSpec{
			AVSAddress: "0x1234567890abcdef1234567890abcdef12345678",
			Image:      "my-org/my-avs-performer",
		},
	}
}

func read(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// readYAML returns the YAML file at path as generic JSON values, and false when it does not exist.
func readYAML(t *testing.T, path string) (map[string]any, bool) {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, false
	}
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return m, true
}

func readYAMLString(t *testing.T, s string) (map[string]any, bool) {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return m, true
}

func toJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func toMap(t *testing.T, v any) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(toJSON(t, v), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

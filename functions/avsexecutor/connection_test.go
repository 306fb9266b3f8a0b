package avsexecutor

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/kustomize/kyaml/yaml"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/hourglass-gitops/hourglass-gitops/api/v1alpha1"
)

// TestExecutorMeetsDeclaredPerformers checks, for every rendered case, what the executor and the
// controller must agree on: the Performer the executor creates from its configuration asks for
// exactly the image the declared Performer runs (the controller binds the two only then), and
// the executor dials each performer where the forwarder listens for it, or at its Service.
func TestExecutorMeetsDeclaredPerformers(t *testing.T) {
	for _, tc := range testCases(t) {
		if tc.fails {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			out, err := execute(t, resourceList(t, tc.config, tc.input))
			if err != nil {
				t.Fatal(err)
			}
			var cfg executorConfig
			declared := map[string]*v1alpha1.Performer{}
			var routes []string
			for _, it := range items(t, out) {
				switch it.GetKind() {
				case "ConfigMap":
					if it.GetAnnotations()[DeclarationAnnotation] == "" {
						continue
					}
					data := it.GetDataMap()[configFile]
					if err := yaml.Unmarshal([]byte(data), &cfg); err != nil {
						t.Fatal(err)
					}
				case v1alpha1.PerformerKind:
					p := &v1alpha1.Performer{}
					m, _ := it.Map()
					if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m, p); err != nil {
						t.Fatal(err)
					}
					declared[p.Spec.AVSAddress] = p
				case "StatefulSet":
					args, err := it.Pipe(yaml.Lookup("spec", "template", "spec", "initContainers", "[name="+forwarderContainer+"]", "args"))
					if err != nil {
						t.Fatal(err)
					}
					if args != nil {
						if err := sigsyaml.Unmarshal([]byte(args.MustString()), &routes); err != nil {
							t.Fatal(err)
						}
					}
				}
			}
			if len(cfg.AVSPerformers) == 0 || len(cfg.AVSPerformers) != len(declared) {
				t.Fatalf("%d performers in the executor configuration, %d declared", len(cfg.AVSPerformers), len(declared))
			}
			for i, pc := range cfg.AVSPerformers {
				p := declared[pc.AVSAddress]
				if p == nil {
					t.Fatalf("no declared Performer for AVS %s", pc.AVSAddress)
				}
				asked := pc.Image.Repository + ":" + pc.Image.Tag
				if asked != p.Image() {
					t.Errorf("AVS %s: the executor asks for %s, the declared Performer runs %s", p.Name, asked, p.Image())
				}
				ep := pc.Kubernetes.EndpointOverride
				if routes == nil {
					if ep != p.Endpoint() {
						t.Errorf("AVS %s: endpointOverride %s, want the Service %s", p.Name, ep, p.Endpoint())
					}
					continue
				}
				want := fmt.Sprintf("--route=127.0.0.1:%d=%s", DefaultForwarderBasePort+int32(i), p.Endpoint())
				if tc.name == "forwarder-settings" {
					want = fmt.Sprintf("--route=127.0.0.1:%d=%s", 18080+i, p.Endpoint())
				}
				if routes[i] != want || !strings.HasPrefix(routes[i], "--route="+ep+"=") {
					t.Errorf("AVS %s: forwarder route %q and endpointOverride %s, want %q", p.Name, routes[i], ep, want)
				}
			}
		})
	}
}

// TestDirectModeWarns checks that Direct mode with the released executor renders, with a warning
// that says why the executor will not reach its performers.
func TestDirectModeWarns(t *testing.T) {
	rl := processConfig(t, "testdata/connection-direct/config.yaml")
	var got []string
	for _, r := range rl.Results {
		got = append(got, fmt.Sprintf("%s %s: %s", r.Severity, r.Field.Path, r.Message))
	}
	want := []string{"warning spec.executor.performerConnection.mode: the released executor (" + DefaultExecutorRepository +
		") dials performers with TLS unless the address is localhost or 127.0.0.1, and performers serve plaintext gRPC, so in Direct mode it cannot reach them; " +
		"use mode Forwarder (the default) unless this executor image dials plaintext"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	for _, it := range rl.Items {
		if it.GetKind() == "StatefulSet" && strings.Contains(it.MustString(), forwarderContainer) {
			t.Error("Direct mode rendered the forwarder")
		}
	}
}

// TestForwarderDefaultsToBaseInstallTag keeps the forwarder's default image on the controller
// release that the base install deploys.
func TestForwarderDefaultsToBaseInstallTag(t *testing.T) {
	b, err := os.ReadFile("../../base/kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var k struct {
		Images []struct{ Name, NewTag string }
	}
	if err := sigsyaml.Unmarshal(b, &k); err != nil {
		t.Fatal(err)
	}
	for _, img := range k.Images {
		if img.Name == DefaultForwarderRepository {
			if img.NewTag != DefaultForwarderTag {
				t.Errorf("base installs %s:%s, the forwarder defaults to tag %s", img.Name, img.NewTag, DefaultForwarderTag)
			}
			return
		}
	}
	t.Errorf("base/kustomization.yaml sets no tag for %s", DefaultForwarderRepository)
}

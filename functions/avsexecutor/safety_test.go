package avsexecutor

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// refusal runs the declaration and returns its error results as "field: message".
func refusal(t *testing.T, fc *yaml.RNode) []string {
	t.Helper()
	_, rep := run(fc, nil)
	var out []string
	for _, r := range rep.results() {
		if r.Severity == "error" {
			p := ""
			if r.Field != nil {
				p = r.Field.Path
			}
			out = append(out, p+": "+r.Message)
		}
	}
	return out
}

// TestKeyNameFieldsRefuseSecrets: the fields of spec.operator.keys name keys of a Secret; key
// material or a password written there is refused with guidance, and key names pass.
func TestKeyNameFieldsRefuseSecrets(t *testing.T) {
	for _, tc := range []struct {
		field, value string
		want         string // part of the message; "" when the value must pass
	}{
		{"ecdsaPrivateKey", hostileKey, "looks like key material or a credential itself"},
		{"ecdsaPrivateKey", strings.TrimPrefix(hostileKey, "0x"), "looks like key material or a credential itself"},
		{"blsPassword", "hunter2", "looks like a password rather than a key name"},
		{"blsPassword", "Summer2024", "looks like a password rather than a key name"},
		{"blsPassword", "p4ssw0rd-x", "looks like a password rather than a key name"},
		{"blsPassword", "123456", "looks like a password rather than a key name"},
		{"blsPassword", "s3cret!", "is no valid Secret key name"},
		{"blsPassword", "correct horse battery", "is no valid Secret key name"},
		{"blsKeystore", `{"crypto":{}}`, "is no valid Secret key name"},
		{"blsPassword", "bls-password", ""},
		{"blsPassword", "bls.password", ""},
		{"blsPassword", "password", ""},
		{"blsPassword", "keystore_password2.txt", ""},
		{"ecdsaPrivateKey", "ecdsa-private-key", ""},
		{"blsKeystore", "bls12381-keystore.json", ""},
	} {
		fc := hostileDeclaration(t, []string{"spec", "operator", "keys", tc.field}, tc.value, "")
		got := refusal(t, fc)
		if tc.want == "" {
			if len(got) > 0 {
				t.Errorf("%s: %q is refused: %v", tc.field, tc.value, got)
			}
			continue
		}
		if len(got) != 1 || !strings.HasPrefix(got[0], "spec.operator.keys."+tc.field+": ") || !strings.Contains(got[0], tc.want) ||
			!strings.Contains(got[0], "put ") || !strings.Contains(got[0], "in Secret operator-keys") {
			t.Errorf("%s: %q: want one error %q with guidance, got %q", tc.field, tc.value, tc.want, got)
		}
	}
}

// TestNamespacesAndNames: createNamespace refuses namespaces that belong to others, executors
// stay out of kube-* namespaces, and metadata.name is checked even when spec.executor.name is set.
func TestNamespacesAndNames(t *testing.T) {
	for _, ns := range []string{"kube-system", "kube-public", "kube-node-lease", "default", "flux-system", "argocd", "hourglass-system"} {
		fc := hostileDeclaration(t, []string{"metadata", "namespace"}, ns, "")
		if err := fc.PipeE(yaml.LookupCreate(yaml.MappingNode, "spec"), yaml.SetField("createNamespace", yaml.MustParse("true"))); err != nil {
			t.Fatal(err)
		}
		got := refusal(t, fc)
		if !slicesContain(got, "spec.createNamespace: would render Namespace "+ns) {
			t.Errorf("createNamespace in %s: got %q", ns, got)
		}
	}
	fc := hostileDeclaration(t, []string{"metadata", "namespace"}, "kube-system", "")
	if got := refusal(t, fc); !slicesContain(got, "metadata.namespace: kube-system is a namespace of Kubernetes' own components") {
		t.Errorf("executor in kube-system: got %q", got)
	}

	fc = hostileDeclaration(t, []string{"metadata", "name"}, "../../../tmp/evil", "")
	if err := fc.PipeE(yaml.LookupCreate(yaml.MappingNode, "spec", "executor"), yaml.SetField("name", yaml.NewStringRNode("good-name"))); err != nil {
		t.Fatal(err)
	}
	if got := refusal(t, fc); !slicesContain(got, `metadata.name: "../../../tmp"… (17 characters) is no valid Kubernetes object name`) {
		t.Errorf("metadata.name with spec.executor.name set: got %q", got)
	}
}

func slicesContain(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}

// TestPerformerQuota: the namespace's Performers are bounded when the declaration asks, by
// default by the number of AVSs times (1 + 2 x replicas), or by maxPerformers, and a rendered
// Namespace enforces the restricted Pod Security Standard.
func TestPerformerQuota(t *testing.T) {
	quota := func(settings map[string]string) (string, map[string]string) {
		t.Helper()
		fc := yaml.MustParse(hostileBase)
		for field, raw := range settings {
			if err := fc.PipeE(yaml.LookupCreate(yaml.MappingNode, "spec"), yaml.SetField(field, yaml.MustParse(raw))); err != nil {
				t.Fatal(err)
			}
		}
		objs, rep := run(fc, nil)
		if rep.failed() {
			t.Fatalf("refused: %v", rep.results())
		}
		hard, labels := "", map[string]string(nil)
		for _, o := range objs {
			switch o.GetKind() {
			case "ResourceQuota":
				if o.GetName() != "hostile-executor-performers" {
					t.Errorf("ResourceQuota %s", o.GetName())
				}
				hard = yaml.GetValue(o.Field("spec").Value.Field("hard").Value.Field(string(PerformerCountResource)).Value)
			case "Namespace":
				labels = o.GetLabels()
			}
		}
		return hard, labels
	}
	for _, tc := range []struct {
		settings map[string]string
		want     string
	}{
		{map[string]string{}, ""}, // opt-in: see resolveBounds
		// One AVS, one replica: the rendered Performer, the executor's own and one for a restart.
		{map[string]string{"performerQuota": "{}"}, "3"},
		{map[string]string{"performerQuota": "{}", "executor": "{replicas: 2}"}, "5"},
		{map[string]string{"performerQuota": "{maxPerformers: 10}"}, "10"},
		{map[string]string{"performerQuota": "{enabled: false, maxPerformers: 10}"}, ""},
	} {
		if got, _ := quota(tc.settings); got != tc.want {
			t.Errorf("%v: quota %q, want %q", tc.settings, got, tc.want)
		}
	}
	if got := refusal(t, hostileDeclaration(t, []string{"spec", "performerQuota"}, "", "{maxPerformers: 0}")); len(got) == 0 {
		t.Error("maxPerformers 0 is accepted")
	}
	_, labels := quota(map[string]string{"createNamespace": "true"})
	want := map[string]string{
		"pod-security.kubernetes.io/enforce": "restricted",
		"pod-security.kubernetes.io/audit":   "restricted",
		"pod-security.kubernetes.io/warn":    "restricted",
	}
	for k := range labels {
		if !strings.HasPrefix(k, "pod-security.kubernetes.io/") {
			delete(labels, k)
		}
	}
	if diff := cmp.Diff(want, labels); diff != "" {
		t.Errorf("Namespace labels (-want +got):\n%s", diff)
	}
}

package avsexecutor

import (
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// hostileBase is a valid declaration; each hostile case puts one value into one field of it.
const hostileBase = `apiVersion: fn.hourglass.eigenlayer.io/v1alpha1
kind: AVSExecutor
metadata:
  name: hostile-executor
  namespace: hostile-avs
spec:
  aggregator:
    endpoint: aggregator.example.com:9000
  chains:
    sepolia:
      rpcUrl: https://rpc.example.com/rpc
  operator:
    address: "0xabcdefabcdefabcdefabcdefabcdefabcdefabcd"
    keys:
      secretName: operator-keys
      blsKeystore: bls-keystore.json
      blsPassword: bls-password
  avs:
    supportedAvs:
    - address: "0x00000000000000000000000000000000000000b2"
      name: hostile-avs
      performer:
        image: my-org/performer
        version: v1.0.0
`

// Values someone might paste into the wrong field: a private key, a password, a URL carrying
// credentials, an API token.
const (
	hostileKey      = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
	hostilePassword = "Tr0ub4dor&3-correct-horse!"
	hostileToken    = "AbCdEf0123456789XyZaBcDeF98765"
	hostileCredURL  = "https://alice:" + hostilePassword + "@rpc.example.com/v2/" + hostileToken
)

// TestHostileValuesAreNotEchoed puts hostile values into every kind of field and checks that the
// declaration is refused and that no result (message, field path or object reference) carries
// the value or any 16 characters of it: results end up in CI logs, on terminals and in Argo CD's
// ComparisonError.
func TestHostileValuesAreNotEchoed(t *testing.T) {
	for _, tc := range []struct {
		name  string
		path  []string // where the value goes; a trailing "=key" sets a map key instead
		value string
		// raw is YAML put in place of value when the value is not a plain string.
		raw string
	}{
		{name: "rpcUrl with a bad scheme", path: []string{"spec", "chains", "sepolia", "rpcUrl"}, value: "ftp://alice:" + hostilePassword + "@rpc.example.com/" + hostileToken},
		{name: "rpcUrl with a bad port", path: []string{"spec", "chains", "sepolia", "rpcUrl"}, value: "https://rpc.example.com:99999/v2/" + hostileToken},
		{name: "rpcUrl with a non-numeric port", path: []string{"spec", "chains", "sepolia", "rpcUrl"}, value: "https://alice:" + hostilePassword + "@rpc.example.com:x" + hostileToken + "/"},
		{name: "key in the operator address", path: []string{"spec", "operator", "address"}, value: hostileKey},
		{name: "key in an AVS address", path: []string{"spec", "avs", "supportedAvs", "0", "address"}, value: hostileKey},
		{name: "key in the mailbox address", path: []string{"spec", "chains", "sepolia", "taskMailboxAddress"}, value: hostileKey},
		{name: "key as operator.keys", path: []string{"spec", "operator", "keys"}, value: hostileKey},
		{name: "key as secrets.operatorKeys", path: []string{"spec", "secrets", "operatorKeys"}, value: hostileKey},
		{name: "key as signingKeys", path: []string{"spec", "operator", "signingKeys"}, value: hostileKey},
		{name: "key among signingKeys", path: []string{"spec", "operator", "signingKeys"}, raw: "[" + hostileKey + "]"},
		{name: "key in ecdsaPrivateKey", path: []string{"spec", "operator", "keys", "ecdsaPrivateKey"}, value: hostileKey},
		{name: "key in blsKeystore", path: []string{"spec", "operator", "keys", "blsKeystore"}, value: hostileKey},
		{name: "password in blsPassword", path: []string{"spec", "operator", "keys", "blsPassword"}, value: hostilePassword},
		{name: "key in blsPassword", path: []string{"spec", "operator", "keys", "blsPassword"}, value: hostileKey},
		{name: "number in blsPassword", path: []string{"spec", "operator", "keys", "blsPassword"}, raw: "12345678901234567890"},
		{name: "key in secretName", path: []string{"spec", "operator", "keys", "secretName"}, value: hostileKey},
		{name: "password in secretName", path: []string{"spec", "operator", "keys", "secretName"}, value: hostilePassword},
		{name: "inline password without allowInlineKeys", path: []string{"spec", "secrets", "operatorKeys", "blsPassword"}, value: hostilePassword},
		{name: "inline key of the wrong type", path: []string{"spec", "secrets", "operatorKeys", "ecdsaPrivateKey"}, raw: "[" + hostileKey + "]"},
		{name: "aggregator endpoint with user info", path: []string{"spec", "aggregator", "endpoint"}, value: "alice:" + hostilePassword + "@aggregator.example.com:9000"},
		{name: "aggregator endpoint as URL", path: []string{"spec", "aggregator", "endpoint"}, value: hostileCredURL},
		{name: "key as version", path: []string{"spec", "avs", "supportedAvs", "0", "performer", "version"}, value: hostileKey},
		{name: "password as version", path: []string{"spec", "avs", "supportedAvs", "0", "performer", "version"}, value: hostilePassword},
		{name: "key as image", path: []string{"spec", "avs", "supportedAvs", "0", "performer", "image"}, value: hostileKey},
		{name: "password as image", path: []string{"spec", "avs", "supportedAvs", "0", "performer", "image"}, value: hostilePassword},
		{name: "password as executor tag", path: []string{"spec", "executor", "image", "tag"}, value: hostilePassword},
		{name: "key as executor repository", path: []string{"spec", "executor", "image", "repository"}, value: "Registry/" + hostileKey},
		{name: "password as label value", path: []string{"spec", "avs", "supportedAvs", "0", "scheduling", "nodeSelector", "pool"}, value: hostilePassword},
		{name: "key as label name", path: []string{"spec", "avs", "supportedAvs", "0", "scheduling", "nodeSelector", "=key"}, value: hostileKey + "!"},
		{name: "password as ServiceAccount name", path: []string{"spec", "avs", "supportedAvs", "0", "performer", "serviceAccountName"}, value: hostilePassword},
		{name: "key as executor name", path: []string{"spec", "executor", "name"}, value: hostileKey},
		{name: "key as metadata.name", path: []string{"metadata", "name"}, value: hostileKey + "!"},
		{name: "key as metadata.namespace", path: []string{"metadata", "namespace"}, value: hostileKey},
		{name: "key as AVS name", path: []string{"spec", "avs", "supportedAvs", "0", "name"}, value: hostileKey},
		{name: "key as profile", path: []string{"spec", "avs", "supportedAvs", "0", "profiles"}, raw: "[" + hostileKey + "]"},
		{name: "key as storage class", path: []string{"spec", "persistence"}, raw: "{enabled: true, storageClassName: " + hostilePassword + "}"},
		{name: "key as operator namespace", path: []string{"spec", "kubernetes", "operatorNamespace"}, value: hostileKey},
		{name: "key as connection timeout", path: []string{"spec", "kubernetes", "connectionTimeout"}, value: hostileKey},
		{name: "key as a quantity", path: []string{"spec", "executor", "resources", "requests", "cpu"}, value: hostileKey},
		{name: "key as pull policy", path: []string{"spec", "executor", "image", "pullPolicy"}, value: hostileKey},
		{name: "key as replicas", path: []string{"spec", "executor", "replicas"}, value: hostileKey},
		{name: "key as toleration operator", path: []string{"spec", "executor", "scheduling", "tolerations"}, raw: "[{key: a, operator: " + hostileKey + ", effect: " + hostilePassword + "}]"},
		{name: "key as chain name", path: []string{"spec", "chains", "=key"}, value: hostileKey},
		{name: "key as a field name", path: []string{"spec", "=key"}, value: hostileKey},
		{name: "password as env name", path: []string{"spec", "avs", "supportedAvs", "0", "performer", "env"}, raw: "[{name: '" + hostilePassword + "', value: x}]"},
		{name: "key as disruption budget", path: []string{"spec", "executor", "podDisruptionBudget", "minAvailable"}, value: hostileKey},
		{name: "password as taint key", path: []string{"spec", "profileParameters", "bottlerocket", "taintKey"}, value: hostilePassword},
		{name: "key as TEE type", path: []string{"spec", "avs", "supportedAvs", "0", "hardwareRequirements", "teeType"}, value: hostileKey},
		{name: "password as runtime class", path: []string{"spec", "avs", "supportedAvs", "0", "scheduling", "runtimeClass"}, value: hostilePassword},
		// Two profiles disagree on a label value that is an API token: shared code quotes both.
		{name: "token in conflicting profiles", path: []string{"spec"}, raw: `{chains: {sepolia: {rpcUrl: "https://rpc.example.com/rpc"}},
			operator: {address: "0xabcdefabcdefabcdefabcdefabcdefabcdefabcd", keys: {secretName: operator-keys}},
			customProfiles: [{name: a, scheduling: {nodeSelector: {pool: ` + hostileToken + `0123456789}}}, {name: b, scheduling: {nodeSelector: {pool: other}}}],
			avs: {supportedAvs: [{address: "0x00000000000000000000000000000000000000b2", name: x, profiles: [a, b], performer: {image: my-org/p, version: v1}}]}}`},
		{name: "key as custom profile name", path: []string{"spec", "customProfiles"}, raw: "[{name: " + hostileKey + "x}]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fc := hostileDeclaration(t, tc.path, tc.value, tc.raw)
			_, rep := run(fc, nil)
			if !rep.failed() {
				t.Fatalf("the declaration was not refused")
			}
			results, err := yaml.Marshal(rep.results())
			if err != nil {
				t.Fatal(err)
			}
			for _, secret := range []string{hostileKey, hostilePassword, hostileToken, hostileCredURL, hostileToken + "0123456789"} {
				if leak := echoed(string(results), secret); leak != "" {
					t.Errorf("the results repeat %q:\n%s", leak, results)
				}
			}
		})
	}
}

// echoed returns a part of secret of 16 characters or more that out contains, or "".
func echoed(out, secret string) string {
	const window = 16
	for i := 0; i+window <= len(secret); i++ {
		if part := secret[i : i+window]; strings.Contains(out, part) {
			return part
		}
	}
	return ""
}

// hostileDeclaration is hostileBase with value (or the YAML raw) at path.
func hostileDeclaration(t *testing.T, path []string, value, raw string) *yaml.RNode {
	t.Helper()
	fc := yaml.MustParse(hostileBase)
	node := yaml.NewStringRNode(value)
	if raw != "" {
		node = yaml.MustParse(raw)
	}
	last := path[len(path)-1]
	parent := fc
	if len(path) > 1 {
		var err error
		if parent, err = fc.Pipe(yaml.LookupCreate(yaml.MappingNode, path[:len(path)-1]...)); err != nil {
			t.Fatal(err)
		}
	}
	if last == "=key" {
		if err := parent.PipeE(yaml.SetField(value, yaml.NewMapRNode(nil))); err != nil {
			t.Fatal(err)
		}
		return fc
	}
	if err := parent.PipeE(yaml.SetField(last, node)); err != nil {
		t.Fatal(err)
	}
	return fc
}

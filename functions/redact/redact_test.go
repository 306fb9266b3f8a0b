package redact

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestString(t *testing.T) {
	for in, want := range map[string]string{
		"":                        "an empty string",
		"gpu-b200":                `"gpu-b200"`,
		"v1\nrm -rf /":            `"v1\nrm -rf /"`,
		"my-org/my-avs-performer": `"my-org/my-av"… (23 characters)`,
		"0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318": "a 66-character value that looks like key material or a credential (not shown)",
		"https://alice:pw@rpc.example.com/x":                                 "a 34-character value that looks like key material or a credential (not shown)",
		"alice:pw@aggregator:9000":                                           "a 24-character value that looks like key material or a credential (not shown)",
		"-----BEGIN EC PRIVATE KEY-----":                                     "a 30-character value that looks like key material or a credential (not shown)",
		"AbCdEf0123456789XyZaBcDeF98765QwE":                                  "a 33-character value that looks like key material or a credential (not shown)",
		// Addresses and digests are public: shortened like any long value.
		"0x1234567890abcdef1234567890abcdef12345678": `"0x1234567890"… (42 characters)`,
		"repo@sha256:abc":      `"repo@sha256:abc"`,
		"ünïcödé-välüé-lönger": `"ünïcödé-välü"… (20 characters)`,
	} {
		if diff := cmp.Diff(want, String(in)); diff != "" {
			t.Errorf("String(%q) (-want +got):\n%s", in, diff)
		}
	}
}

func TestSecretAndKind(t *testing.T) {
	if got := Secret("hunter2"); got != "a 7-character value (not shown)" {
		t.Errorf("Secret: %q", got)
	}
	for v, want := range map[any]string{nil: "no value", "x": "a 1-character value (not shown)", true: "a boolean", 12345678: "a number"} {
		if got := Kind(v); got != want {
			t.Errorf("Kind(%v) = %q, want %q", v, got, want)
		}
	}
	for path, want := range map[string]bool{"spec.secrets.operatorKeys.blsPassword": true, "spec.operator.keys.blsPassword": true, "spec.operator.address": false} {
		if got := SecretField(path); got != want {
			t.Errorf("SecretField(%s) = %v", path, got)
		}
	}
}

package avsexecutor

import (
	"fmt"
	"maps"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/crypto/sha3"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	fnv1alpha1 "github.com/hourglass-gitops/hourglass-gitops/api/fn/v1alpha1"
	"github.com/hourglass-gitops/hourglass-gitops/api/hardware"
	"github.com/hourglass-gitops/hourglass-gitops/api/v1alpha1"
	"github.com/hourglass-gitops/hourglass-gitops/functions/profiles"
	"github.com/hourglass-gitops/hourglass-gitops/functions/strictyaml"
)

// The checks below are what the generated schema cannot express: label and name syntax of
// Kubernetes, combinations of fields, and order between values. Each returns its findings.

// checkProfile checks a custom profile's settings; p is the path of its spec.
func checkProfile(spec *fnv1alpha1.PerformerProfileSpec, p *field.Path) field.ErrorList {
	errs := checkHardwareFields(spec.HardwareRequirements, p.Child("hardwareRequirements"))
	errs = append(errs, checkScheduling(spec.Scheduling, p.Child("scheduling"))...)
	errs = append(errs, checkResourceOrder(spec.Resources, p.Child("resources"), "")...)
	return append(errs, hardware.Validate(p, spec.HardwareRequirements, spec.Scheduling)...)
}

func checkBottlerocket(params *fnv1alpha1.ProfileParameters) field.ErrorList {
	if params == nil || params.Bottlerocket == nil {
		return nil
	}
	br := profiles.BottlerocketParameters(params)
	p := field.NewPath("spec", "profileParameters", "bottlerocket")
	errs := checkLabels(map[string]string{br.NodeLabelKey: br.NodeLabelValue}, p)
	if br.TaintKey != "-" {
		if msgs := validation.IsQualifiedName(br.TaintKey); len(msgs) > 0 {
			errs = append(errs, field.Invalid(p.Child("taintKey"), br.TaintKey, fmt.Sprintf("%q is no valid taint key: %s", br.TaintKey, strings.Join(msgs, "; "))))
		}
		if msgs := validation.IsValidLabelValue(br.TaintValue); len(msgs) > 0 {
			errs = append(errs, field.Invalid(p.Child("taintValue"), br.TaintValue, fmt.Sprintf("%q is no valid taint value: %s", br.TaintValue, strings.Join(msgs, "; "))))
		}
	}
	return errs
}

func checkPullSecrets(refs []corev1.LocalObjectReference, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, r := range refs {
		if r.Name == "" {
			errs = append(errs, field.Required(p.Index(i).Child("name"), "is required"))
		}
	}
	return errs
}

// checkResourceOrder checks that no request exceeds its limit; from says where the settings came
// from when profiles were involved.
func checkResourceOrder(r *corev1.ResourceRequirements, p *field.Path, from string) field.ErrorList {
	if r == nil {
		return nil
	}
	var errs field.ErrorList
	for _, n := range slices.Sorted(maps.Keys(r.Requests)) {
		req := r.Requests[n]
		if lim, ok := r.Limits[n]; ok && req.Cmp(lim) > 0 {
			errs = append(errs, field.Invalid(strictyaml.KeyPath(p.Child("requests"), string(n)), req.String(),
				fmt.Sprintf("request %s is more than the limit %s%s", req.String(), lim.String(), from)))
		}
	}
	return errs
}

func checkScheduling(s *v1alpha1.Scheduling, p *field.Path) field.ErrorList {
	if s == nil {
		return nil
	}
	errs := checkLabels(s.NodeSelector, p.Child("nodeSelector"))
	for i, t := range s.Tolerations {
		tp := p.Child("tolerations").Index(i)
		switch t.Operator {
		case "", corev1.TolerationOpEqual:
		case corev1.TolerationOpExists:
			if t.Value != "" {
				errs = append(errs, field.Invalid(tp.Child("value"), t.Value, "must be empty when operator is Exists"))
			}
		default:
			errs = append(errs, field.Invalid(tp.Child("operator"), t.Operator, fmt.Sprintf("unknown operator %q (Equal or Exists)", t.Operator)))
		}
		switch t.Effect {
		case "", corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
		default:
			errs = append(errs, field.Invalid(tp.Child("effect"), t.Effect, fmt.Sprintf("unknown effect %q (NoSchedule, PreferNoSchedule or NoExecute)", t.Effect)))
		}
		if t.Key == "" && t.Operator != corev1.TolerationOpExists {
			errs = append(errs, field.Required(tp.Child("key"), "is required unless operator is Exists"))
		}
	}
	if rc := s.RuntimeClass; rc != nil {
		if msgs := validation.IsDNS1123Subdomain(*rc); len(msgs) > 0 {
			errs = append(errs, field.Invalid(p.Child("runtimeClass"), *rc, fmt.Sprintf("%q is no valid RuntimeClass name: %s", *rc, strings.Join(msgs, "; "))))
		}
	}
	return errs
}

func checkHardwareFields(hw *v1alpha1.HardwareRequirements, p *field.Path) field.ErrorList {
	if hw == nil {
		return nil
	}
	return checkLabels(hw.CustomLabels, p.Child("customLabels"))
}

// checkLabels checks node label names and values.
func checkLabels(m map[string]string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, k := range slices.Sorted(maps.Keys(m)) {
		kp := strictyaml.KeyPath(p, k)
		if msgs := validation.IsQualifiedName(k); len(msgs) > 0 {
			errs = append(errs, field.Invalid(kp, k, fmt.Sprintf("%q is no valid label name: %s", k, strings.Join(msgs, "; "))))
		}
		if msgs := validation.IsValidLabelValue(m[k]); len(msgs) > 0 {
			errs = append(errs, field.Invalid(kp, m[k], fmt.Sprintf("%q is no valid label value: %s", m[k], strings.Join(msgs, "; "))))
		}
	}
	return errs
}

// checkEnv checks performer environment variables: the executor forwards plain values and values
// from Secret or ConfigMap keys, nothing else.
func checkEnv(vars []corev1.EnvVar, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := map[string]int{}
	for i, e := range vars {
		ep := p.Index(i)
		np := ep.Child("name")
		if e.Name == "" {
			errs = append(errs, field.Required(np, "is required"))
		} else if msgs := validation.IsEnvVarName(e.Name); len(msgs) > 0 {
			errs = append(errs, field.Invalid(np, e.Name, fmt.Sprintf("%q is no valid environment variable name: %s", e.Name, strings.Join(msgs, "; "))))
		} else if j, dup := seen[e.Name]; dup {
			errs = append(errs, duplicate(np, e.Name, fmt.Sprintf("%q is also set by env[%d]", e.Name, j)))
		} else {
			seen[e.Name] = i
		}
		vf := e.ValueFrom
		if vf == nil {
			continue
		}
		vp := ep.Child("valueFrom")
		if e.Value != "" {
			errs = append(errs, field.Invalid(ep, e.Value, "set either value or valueFrom, not both"))
		}
		switch {
		case vf.FieldRef != nil || vf.ResourceFieldRef != nil || vf.FileKeyRef != nil:
			errs = append(errs, field.Forbidden(vp, "the executor passes performers only values from secretKeyRef or configMapKeyRef"))
		case vf.SecretKeyRef != nil && vf.ConfigMapKeyRef != nil:
			errs = append(errs, field.Invalid(vp, nil, "set either secretKeyRef or configMapKeyRef, not both"))
		case vf.SecretKeyRef != nil:
			errs = append(errs, checkKeyRef(vf.SecretKeyRef.Name, vf.SecretKeyRef.Key, vp.Child("secretKeyRef"))...)
		case vf.ConfigMapKeyRef != nil:
			errs = append(errs, checkKeyRef(vf.ConfigMapKeyRef.Name, vf.ConfigMapKeyRef.Key, vp.Child("configMapKeyRef"))...)
		default:
			errs = append(errs, field.Required(vp, "set secretKeyRef or configMapKeyRef"))
		}
	}
	return errs
}

func checkKeyRef(name, key string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if name == "" {
		errs = append(errs, field.Required(p.Child("name"), "is required"))
	}
	if key == "" {
		errs = append(errs, field.Required(p.Child("key"), "is required"))
	}
	return errs
}

// checkIntOrPercent checks a disruption budget value: a count of 0 or more, or a percentage.
func checkIntOrPercent(v *intstr.IntOrString, p *field.Path) field.ErrorList {
	if v == nil {
		return nil
	}
	if v.Type == intstr.Int {
		if v.IntVal < 0 {
			return field.ErrorList{field.Invalid(p, v.IntVal, fmt.Sprintf("must be 0 or more, got %d", v.IntVal))}
		}
		return nil
	}
	digits, ok := strings.CutSuffix(v.StrVal, "%")
	if n, err := strconv.Atoi(digits); !ok || err != nil || n < 0 || n > 100 || strings.ContainsAny(digits, "+-") {
		return field.ErrorList{field.Invalid(p, v.StrVal, fmt.Sprintf("%q is neither a number of pods nor a percentage such as 50%%", v.StrVal))}
	}
	return nil
}

// checkAddress checks what the schema's pattern cannot: the zero address, which is nobody's, and
// the EIP-55 checksum of an address written in mixed case, which catches a mistyped letter.
func checkAddress(addr string, p *field.Path) field.ErrorList {
	if !isEthAddress(addr) {
		return nil // the schema says what is wrong
	}
	hexPart := addr[2:]
	if strings.Trim(hexPart, "0") == "" {
		return field.ErrorList{field.Invalid(p, addr, fmt.Sprintf("%s is the zero address, which belongs to no one", addr))}
	}
	if strings.ToLower(hexPart) == hexPart || strings.ToUpper(hexPart) == hexPart {
		return nil // no checksum written
	}
	if want := checksumAddress(hexPart); want != addr {
		return field.ErrorList{field.Invalid(p, addr, fmt.Sprintf("%s fails its EIP-55 checksum (mixed case that does not match; expected %s): a character may be mistyped", addr, want))}
	}
	return nil
}

// isEthAddress: 0x and 40 hex digits. The checks on plain values are written out rather than
// as regular expressions, which the function would compile on every start.
func isEthAddress(s string) bool { return len(s) == 42 && s[:2] == "0x" && isHex(s[2:]) }

// checksumAddress writes a 40-digit hex address in EIP-55 mixed case: a letter is upper case
// when the matching nibble of the Keccak-256 hash of the lower-case address is 8 or more.
func checksumAddress(hexPart string) string {
	lower := strings.ToLower(hexPart)
	h := sha3.NewLegacyKeccak256()
	h.Write([]byte(lower))
	sum := h.Sum(nil)
	out := []byte(lower)
	for i, c := range out {
		nibble := sum[i/2] >> 4
		if i%2 == 1 {
			nibble = sum[i/2] & 0x0f
		}
		if c >= 'a' && c <= 'f' && nibble >= 8 {
			out[i] = c - 'a' + 'A'
		}
	}
	return "0x" + string(out)
}

// looksLikeKeyMaterial reports whether a plain value looks like a private key: 32 bytes of hex
// (an Ethereum private key) or a PEM block.
func looksLikeKeyMaterial(v string) bool {
	return isPrivateKeyHex(strings.TrimSpace(v)) || strings.Contains(v, "PRIVATE KEY-----")
}

// isPrivateKeyHex: 64 hex digits, 0x before them or not.
func isPrivateKeyHex(s string) bool {
	return isHex(s) && len(s) == 64 || len(s) == 66 && s[:2] == "0x" && isHex(s[2:])
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') && (c < 'A' || c > 'F') {
			return false
		}
	}
	return true
}

// looksLikeCredentialURL reports whether an RPC URL seems to carry credentials: user info, a
// query parameter named like a key or token, or a long token as a path segment (as providers put
// API keys: /v2/<key>).
func looksLikeCredentialURL(s string) bool {
	u, err := url.Parse(s)
	if err != nil {
		return false
	}
	if u.User != nil {
		return true
	}
	for k := range u.Query() {
		switch strings.ToLower(strings.NewReplacer("-", "", "_", "").Replace(k)) {
		case "key", "apikey", "token", "accesstoken", "auth", "secret":
			return true
		}
	}
	for _, seg := range strings.Split(u.Path, "/") {
		if isAPIToken(seg) {
			return true
		}
	}
	return false
}

// isAPIToken: at least 20 letters, digits, '_' and '-'.
func isAPIToken(s string) bool { return len(s) >= 20 && isWord(s) }

// isWord: letters, digits, '_' and '-' only.
func isWord(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

// checkURL checks an RPC URL: http, https, ws or wss with a host.
func checkURL(s string, p *field.Path) field.ErrorList {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "ws" && u.Scheme != "wss") {
		return field.ErrorList{field.Invalid(p, s, fmt.Sprintf("%q is no http, https, ws or wss URL", s))}
	}
	return nil
}

func checkHostPort(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return err
	}
	if host == "" {
		return fmt.Errorf("the host is missing")
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("port %q is not between 1 and 65535", port)
	}
	return nil
}

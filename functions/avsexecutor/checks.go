package avsexecutor

import (
	"fmt"
	"maps"
	"net"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/crypto/sha3"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	fnv1alpha1 "github.com/hourglass-gitops/hourglass-gitops/api/fn/v1alpha1"
	"github.com/hourglass-gitops/hourglass-gitops/api/hardware"
	"github.com/hourglass-gitops/hourglass-gitops/api/v1alpha1"
	"github.com/hourglass-gitops/hourglass-gitops/functions/profiles"
	"github.com/hourglass-gitops/hourglass-gitops/functions/redact"
	"github.com/hourglass-gitops/hourglass-gitops/functions/strictyaml"
)

// The checks below are what the generated schema cannot express: label and name syntax of
// Kubernetes, combinations of fields, and order between values. Each returns its findings.

// checkProfile checks a custom profile's settings; p is the path of its spec.
func checkProfile(spec *fnv1alpha1.PerformerProfileSpec, p *field.Path) field.ErrorList {
	errs := checkHardwareFields(spec.HardwareRequirements, p.Child("hardwareRequirements"))
	errs = append(errs, checkScheduling(spec.Scheduling, p.Child("scheduling"))...)
	errs = append(errs, checkResourceOrder(spec.Resources, p.Child("resources"), "")...)
	return append(errs, scrubbed(hardware.Validate(p, spec.HardwareRequirements, spec.Scheduling))...)
}

// checkBottlerocket checks the node label and taint the bottlerocket profile's parameters name;
// a taint key of "-" means no taint.
func checkBottlerocket(params *fnv1alpha1.ProfileParameters) field.ErrorList {
	if params == nil || params.Bottlerocket == nil {
		return nil
	}
	br := profiles.BottlerocketParameters(params)
	p := field.NewPath("spec", "profileParameters", "bottlerocket")
	errs := checkLabels(map[string]string{br.NodeLabelKey: br.NodeLabelValue}, p)
	if br.TaintKey != "-" {
		if msgs := validation.IsQualifiedName(br.TaintKey); len(msgs) > 0 {
			errs = append(errs, invalid(p.Child("taintKey"), br.TaintKey, fmt.Sprintf("%s is no valid taint key: %s", redact.String(br.TaintKey), strings.Join(msgs, "; "))))
		}
		if msgs := validation.IsValidLabelValue(br.TaintValue); len(msgs) > 0 {
			errs = append(errs, invalid(p.Child("taintValue"), br.TaintValue, fmt.Sprintf("%s is no valid taint value: %s", redact.String(br.TaintValue), strings.Join(msgs, "; "))))
		}
	}
	return errs
}

// checkPullSecrets checks that each image pull secret has a valid Secret name.
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

// checkScheduling checks a scheduling block: node selector labels, the operators and effects of
// tolerations, and the RuntimeClass name.
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
				errs = append(errs, invalid(tp.Child("value"), t.Value, "must be empty when operator is Exists"))
			}
		default:
			errs = append(errs, invalid(tp.Child("operator"), string(t.Operator), fmt.Sprintf("unknown operator %s (Equal or Exists)", redact.String(string(t.Operator)))))
		}
		switch t.Effect {
		case "", corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
		default:
			errs = append(errs, invalid(tp.Child("effect"), string(t.Effect), fmt.Sprintf("unknown effect %s (NoSchedule, PreferNoSchedule or NoExecute)", redact.String(string(t.Effect)))))
		}
		if t.Key == "" && t.Operator != corev1.TolerationOpExists {
			errs = append(errs, field.Required(tp.Child("key"), "is required unless operator is Exists"))
		}
	}
	if rc := s.RuntimeClass; rc != nil {
		if msgs := validation.IsDNS1123Subdomain(*rc); len(msgs) > 0 {
			errs = append(errs, invalid(p.Child("runtimeClass"), *rc, fmt.Sprintf("%s is no valid RuntimeClass name: %s", redact.String(*rc), strings.Join(msgs, "; "))))
		}
	}
	return errs
}

// checkHardwareFields checks the custom node labels of hardware requirements; the rest is
// checked with the hardware mapping (hardware.Validate).
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
			errs = append(errs, invalid(kp, k, fmt.Sprintf("%s is no valid label name: %s", redact.String(k), strings.Join(msgs, "; "))))
		}
		if msgs := validation.IsValidLabelValue(m[k]); len(msgs) > 0 {
			errs = append(errs, invalid(kp, m[k], fmt.Sprintf("%s is no valid label value: %s", redact.String(m[k]), strings.Join(msgs, "; "))))
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
			errs = append(errs, invalid(np, e.Name, fmt.Sprintf("%s is no valid environment variable name: %s", redact.String(e.Name), strings.Join(msgs, "; "))))
		} else if j, dup := seen[e.Name]; dup {
			errs = append(errs, duplicate(np, e.Name, fmt.Sprintf("%s is also set by env[%d]", redact.String(e.Name), j)))
		} else {
			seen[e.Name] = i
		}
		vf := e.ValueFrom
		if vf == nil {
			continue
		}
		vp := ep.Child("valueFrom")
		if e.Value != "" {
			errs = append(errs, field.Invalid(ep, nil, "set either value or valueFrom, not both"))
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

// checkKeyRef checks that a Secret key reference names both the Secret and the key.
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
		return field.ErrorList{invalid(p, v.StrVal, fmt.Sprintf("%s is neither a number of pods nor a percentage such as 50%%", redact.String(v.StrVal)))}
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

// isHex reports whether s is hexadecimal digits alone.
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

// checkSecretKeyName checks a field of spec.operator.keys, which names a key of the operator's
// Secret and never holds the secret: a value that looks like key material, a password or a
// credential was most likely pasted where its key name belongs, and rendering it would copy it
// into the executor configuration and the StatefulSet. holds says what the named key holds.
func checkSecretKeyName(p *field.Path, key, holds, secretName string) field.ErrorList {
	guidance := fmt.Sprintf("put %s in Secret %s (made with SOPS, Sealed Secrets or External Secrets) and give here the name of its key, such as %s",
		holds, secretName, defaultKeyName(p.String()))
	switch {
	case looksLikeKeyMaterial(key) || redact.LooksSecret(key):
		return field.ErrorList{secretInvalid(p, key, fmt.Sprintf("names the Secret key that holds %s, but %s looks like key material or a credential itself, "+
			"which must not be written in the declaration: %s", holds, redact.Secret(key), guidance))}
	case len(validation.IsConfigMapKey(key)) > 0:
		return field.ErrorList{secretInvalid(p, key, fmt.Sprintf("names the Secret key that holds %s, but %s is no valid Secret key name "+
			"(letters, digits, '-', '_' and '.'), so it may be the secret itself: %s", holds, redact.Secret(key), guidance))}
	case looksLikePassword(key):
		return field.ErrorList{secretInvalid(p, key, fmt.Sprintf("names the Secret key that holds %s, but %s looks like a password rather than a key name "+
			"(it mixes upper and lower case with digits, or letters and digits in one long word): %s", holds, redact.Secret(key), guidance))}
	}
	return nil
}

// defaultKeyName is the key name the documentation uses for the field at path.
func defaultKeyName(path string) string {
	switch {
	case strings.HasSuffix(path, "blsKeystore"):
		return "bls-keystore.json"
	case strings.HasSuffix(path, "blsPassword"):
		return "bls-password"
	}
	return DefaultECDSAKey
}

// looksLikePassword reports whether a valid key name reads like a password: key names are words
// joined by '-', '_' and '.', such as bls-password or keystore2.json; passwords mix upper and
// lower case with digits, or run letters and digits together in a long word.
func looksLikePassword(s string) bool {
	var upper, lower, digit bool
	for i := 0; i < len(s); i++ {
		c := s[i]
		upper = upper || c >= 'A' && c <= 'Z'
		lower = lower || c >= 'a' && c <= 'z'
		digit = digit || c >= '0' && c <= '9'
	}
	if upper && lower && digit || weakPasswords[strings.ToLower(s)] {
		return true
	}
	if len(s) >= 4 && strings.Trim(s, "0123456789") == "" {
		return true // a PIN, not a key name
	}
	for _, w := range strings.FieldsFunc(s, func(r rune) bool { return r == '-' || r == '_' || r == '.' }) {
		// Digits between letters (p4ssw0rd) or before them (1password); key names number at the
		// end (key2, keystore10).
		if t := strings.TrimRight(w, "0123456789"); strings.ContainsAny(t, "0123456789") && strings.Trim(t, "0123456789") != "" {
			return true
		}
	}
	return false
}

// weakPasswords are well-known passwords that no one would choose as a key name. ("password" is
// not among them: it is the usual key name of a password in a Secret.)
var weakPasswords = map[string]bool{
	"hunter2": true, "changeme": true, "letmein": true, "qwerty": true, "iloveyou": true, "trustno1": true,
	"abc123": true, "welcome1": true, "admin": true, "secret123": true, "passw0rd": true, "p4ssw0rd": true,
}

// checkURL checks an RPC URL: http, https, ws or wss with a host. An RPC URL often carries an API
// key, so the message says what is wrong without repeating the URL.
func checkURL(s string, p *field.Path) field.ErrorList {
	bad := func(why string) field.ErrorList {
		return field.ErrorList{invalid(p, "", why+": give an http, https, ws or wss URL")}
	}
	u, err := url.Parse(s)
	switch {
	case err != nil && strings.Contains(err.Error(), "invalid port"):
		return bad("the URL's port is no number between 1 and 65535")
	case err != nil:
		return bad(fmt.Sprintf("%s is no URL", redact.Secret(s)))
	case u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "ws" && u.Scheme != "wss":
		if u.Scheme == "" {
			return bad("the URL has no scheme")
		}
		return bad(fmt.Sprintf("the URL's scheme is %s", redact.String(u.Scheme)))
	case u.Host == "":
		return bad("the URL has no host")
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return bad("the URL's port is no number between 1 and 65535")
		}
	}
	return nil
}

// checkHostPort checks a host:port endpoint. Its errors never repeat the endpoint, which may
// carry user:password@ in front of the host.
func checkHostPort(s string) error {
	// The executor does not dial the aggregator, so a URL's scheme would say nothing the
	// declaration does not: TLS is tls.enabled. Say what to write instead.
	if scheme, _, ok := strings.Cut(s, "://"); ok {
		switch strings.ToLower(scheme) {
		case "https", "grpcs":
			return fmt.Errorf("give host:port without %s://, and tls.enabled: true (port 443 if the URL has none)", strings.ToLower(scheme))
		case "http", "grpc":
			return fmt.Errorf("give host:port without %s:// (port 80 if the URL has none)", strings.ToLower(scheme))
		}
		return fmt.Errorf("give the host and port alone (host:port), without a scheme")
	}
	if strings.Contains(s, "@") {
		return fmt.Errorf("give the host and port alone (host:port), without user information")
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("it is no host:port (for example aggregator.example.com:9000)")
	}
	if host == "" {
		return fmt.Errorf("the host is missing")
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("the port is no number between 1 and 65535")
	}
	return nil
}

// invalid is field.Invalid with the value described as redact.String does, so that the error
// reads the same whether its Detail or its Error() ends up in a log.
func invalid(p *field.Path, v string, detail string) *field.Error {
	return field.Invalid(p, redact.String(v), detail)
}

// secretInvalid is invalid for a field that may hold a secret: nothing of the value is kept.
func secretInvalid(p *field.Path, v string, detail string) *field.Error {
	return field.Invalid(p, redact.Secret(v), detail)
}

// checkKeyMaterial refuses a private key written in any plain field of the declaration (a
// version, a name, an image): it would end up in Git and in the rendered objects. Inline keys
// under spec.secrets have their own rules, and performer env values their own warning; fields
// that have an error already are not reported twice.
func checkKeyMaterial(decl *yaml.RNode, found field.ErrorList) field.ErrorList {
	reported := map[string]bool{}
	for _, e := range found {
		reported[pathOf(e)] = true
	}
	var errs field.ErrorList
	var walk func(n *yaml.Node, p *field.Path)
	walk = func(n *yaml.Node, p *field.Path) {
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				walk(n.Content[i+1], strictyaml.KeyPath(p, n.Content[i].Value))
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				walk(c, p.Index(i))
			}
		case yaml.ScalarNode:
			s := p.String()
			if !looksLikeKeyMaterial(n.Value) || reported[s] || strings.HasPrefix(s, "spec.secrets") ||
				strings.HasPrefix(s, "spec.avs.supportedAvs[") && strings.Contains(s, ".performer.env[") && strings.HasSuffix(s, ".value") {
				return
			}
			errs = append(errs, secretInvalid(p, n.Value, "looks like a private key, which must not be written in the declaration: it would end up in Git and in the rendered objects. "+
				"Keep keys in a Secret and name it in spec.operator.keys"))
		}
	}
	walk(decl.YNode(), nil)
	return errs
}

// scrubbed are errors of shared validation code (package hardware), whose messages quote the
// value, with the value described as redact does.
func scrubbed(errs field.ErrorList) field.ErrorList {
	for _, e := range errs {
		if v := reflect.ValueOf(e.BadValue); v.Kind() == reflect.String && v.String() != "" {
			e.Detail = strings.ReplaceAll(e.Detail, strconv.Quote(v.String()), redact.String(v.String()))
			e.BadValue = redact.String(v.String())
		}
	}
	return errs
}

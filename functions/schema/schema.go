// Package schema holds the OpenAPI schemas generated from the function's API types
// (api/fn/v1alpha1, by controller-gen from their kubebuilder markers; ./gen writes them as Go
// values, so that the function starts without parsing YAML) and checks objects against them with
// the OpenAPI validator the API server uses for custom resources (kube-openapi). Ranges,
// patterns, enums and required fields are written once, as markers; the function does not repeat
// them by hand.
package schema

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/util/validation/field"
	openapierrors "k8s.io/kube-openapi/pkg/validation/errors"
	"k8s.io/kube-openapi/pkg/validation/spec"
	"k8s.io/kube-openapi/pkg/validation/strfmt"
	"k8s.io/kube-openapi/pkg/validation/validate"

	"github.com/hourglass-gitops/hourglass-gitops/functions/redact"
)

//go:generate go run ./gen

// Validator checks objects of one kind against its schema.
type Validator struct{ schema *spec.Schema }

// validators are built on first use, one kind at a time: most inputs have no PerformerProfile.
var validators sync.Map // kind -> func() *Validator

// For returns the validator of a kind of the function's API (version v1alpha1).
func For(kind string) (*Validator, error) {
	if v, ok := validators.Load(kind); ok {
		return v.(func() *Validator)(), nil
	}
	build, ok := builders[kind]
	if !ok {
		return nil, fmt.Errorf("no schema for kind %s", kind)
	}
	v, _ := validators.LoadOrStore(kind, sync.OnceValue(func() *Validator { return &Validator{schema: build()} }))
	return v.(func() *Validator)(), nil
}

// Validate checks obj, an object as JSON decodes it, against the schema. Each error's Detail is a
// whole sentence in the words of this project rather than the validator's.
func (v *Validator) Validate(obj map[string]any) field.ErrorList {
	res := validate.NewSchemaValidator(v.schema, nil, "", strfmt.Default).Validate(withoutNulls(obj))
	var errs field.ErrorList
	for _, err := range res.Errors {
		errs = append(errs, toFieldError(err))
	}
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].Field < errs[j].Field })
	return errs
}

// withoutNulls drops null values: like the API server, the function reads an explicit null as
// "not set".
func withoutNulls(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			if x != nil {
				out[k] = withoutNulls(x)
			}
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = withoutNulls(x)
		}
		return out
	}
	return v
}

// patterns names the patterns of the API types, so that a mismatch says what was expected.
var patterns = map[string]string{
	`^0x[0-9a-fA-F]{40}$`:             "is no Ethereum address (0x and 40 hex digits)",
	`^[a-z]([-a-z0-9]*[a-z0-9])?$`:    "is no DNS-1035 label (lower case letters, digits and '-', starting with a letter)",
	`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`: "is no valid name (lower case letters, digits and '-')",
}

// The validator's messages are read with these only when an object has problems; they are
// compiled then, not on every start of the function.
var (
	shouldMatch = lazyRegexp(`should match '(.*)'$`)
	bound       = lazyRegexp(`should be (greater|less) than( or equal to)? (\S+)$`)
	atMost      = lazyRegexp(`should be at most ([0-9]+) chars long$`)
	atLeast     = lazyRegexp(`should (?:be|have) at least ([0-9]+) (chars long|items|properties)$`)
	oneOf       = lazyRegexp(`should be one of \[(.*)\]$`)
)

// lazyRegexp compiles expr on first use: the function's start-up must not pay for messages it
// may never write.
func lazyRegexp(expr string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })
}

// toFieldError turns an OpenAPI validation error into a field error in the words of the
// function's own messages, redacting values that may be secret.
func toFieldError(err error) *field.Error {
	v, ok := err.(*openapierrors.Validation)
	if !ok {
		return &field.Error{Type: field.ErrorTypeInvalid, Detail: err.Error()}
	}
	path := redactPath(strings.TrimPrefix(v.Name, "."))
	e := &field.Error{Type: field.ErrorTypeInvalid, Field: path, BadValue: describe(path, v.Value)}
	msg := v.Error()
	switch m := []string(nil); {
	case v.Code() == openapierrors.RequiredFailCode:
		e.Type, e.Detail = field.ErrorTypeRequired, "is required"
	case v.Code() == openapierrors.EnumFailCode:
		e.Type = field.ErrorTypeNotSupported
		if m = oneOf().FindStringSubmatch(msg); m != nil {
			e.Detail = fmt.Sprintf("unknown value %s (one of %s)", describe(path, v.Value), strings.Join(strings.Fields(m[1]), ", "))
		}
	case v.Code() == openapierrors.InvalidTypeCode:
		e.Type, e.Detail = field.ErrorTypeTypeInvalid, "has the wrong type: "+strings.TrimPrefix(msg, v.Name+" in body ")
	default:
		if m = shouldMatch().FindStringSubmatch(msg); m != nil {
			if what, ok := patterns[m[1]]; ok {
				e.Detail = describe(path, v.Value) + " " + what
			} else {
				e.Detail = fmt.Sprintf("%s does not match %s", describe(path, v.Value), m[1])
			}
		} else if m = bound().FindStringSubmatch(msg); m != nil {
			switch {
			case m[1] == "greater" && m[2] != "":
				e.Detail = fmt.Sprintf("must be %s or more, got %s", m[3], describe(path, v.Value))
			case m[1] == "greater":
				e.Detail = fmt.Sprintf("must be more than %s, got %s", m[3], describe(path, v.Value))
			case m[2] != "":
				e.Detail = fmt.Sprintf("must be %s or less, got %s", m[3], describe(path, v.Value))
			default:
				e.Detail = fmt.Sprintf("must be less than %s, got %s", m[3], describe(path, v.Value))
			}
		} else if m = atMost().FindStringSubmatch(msg); m != nil {
			e.Type, e.Detail = field.ErrorTypeTooLong, fmt.Sprintf("%s is too long: at most %s characters", describe(path, v.Value), m[1])
		} else if m = atLeast().FindStringSubmatch(msg); m != nil {
			if m[1] == "1" {
				e.Type, e.Detail = field.ErrorTypeRequired, "is required"
			} else {
				e.Detail = fmt.Sprintf("needs at least %s %s", m[1], strings.TrimSuffix(m[2], " long"))
			}
		}
	}
	if e.Detail == "" {
		e.Detail = strings.TrimPrefix(msg, v.Name+" in body ")
		// The validator's own words may quote the value.
		if s, ok := v.Value.(string); ok && s != "" {
			e.Detail = strings.ReplaceAll(e.Detail, s, describe(path, s))
		}
	}
	return e
}

// redactPath hides the parts of a field path that look like key material or credentials: map
// keys are data, and a key pasted as one would otherwise travel in the path.
func redactPath(path string) string {
	parts := strings.Split(path, ".")
	for i, p := range parts {
		if redact.LooksSecret(p) {
			parts[i] = "[" + redact.String(p) + "]"
		}
	}
	return strings.Join(parts, ".")
}

// describe shows of a value what redact allows: nothing but its kind and size for a field that
// holds a secret or its name.
func describe(path string, v any) string {
	if redact.SecretField(path) {
		return redact.Kind(v)
	}
	return redact.Value(v)
}

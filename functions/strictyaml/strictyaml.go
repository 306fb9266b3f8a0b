// Package strictyaml decodes a YAML object into a Go API type the way the API server would, but
// reports every unknown field and every value of the wrong type at once, each with its field path.
// encoding/json stops at the first problem and names no path, which is not enough for a function
// whose users fix all their typos in one go.
package strictyaml

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/hourglass-gitops/hourglass-gitops/functions/redact"
)

// Decode decodes obj into out, a pointer to a struct with json tags. Fields with problems are left
// out of the decoded value, so that the caller can still validate everything else; the problems
// are returned, sorted by field, each with a whole sentence as its Detail. metadata is decoded
// leniently: tools add their own annotations there.
func Decode(obj *yaml.RNode, out any) field.ErrorList {
	errs, _ := DecodeJSON(obj, out)
	return errs
}

// DecodeJSON is Decode that also returns obj in the JSON form it was decoded from when no problem
// was found, so that a caller that needs that form too (a schema validator) does not convert the
// object again. With problems, the JSON is nil: it would lack the fields that were left out.
func DecodeJSON(obj *yaml.RNode, out any) (field.ErrorList, []byte) {
	n := obj.Copy().YNode()
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	size := countNodes(n)
	d := &decoder{budget: aliasFactor*size + aliasAllowance}
	d.dropRepeatedKeys(n, nil)
	var data []byte
	if d.walk(n, reflect.TypeOf(out).Elem(), nil) && !d.exhausted {
		var err error
		data, err = marshalJSON(n)
		if err == nil {
			err = json.Unmarshal(data, out)
		}
		if err != nil {
			d.errs = append(d.errs, &field.Error{Type: field.ErrorTypeInternal, Detail: "cannot decode: " + err.Error()})
		}
	}
	sort.SliceStable(d.errs, func(i, j int) bool { return d.errs[i].Field < d.errs[j].Field })
	if len(d.errs) > 0 {
		// Problems leave fields out of the copy, and repeated keys are dropped from it: its JSON
		// is no longer obj's.
		data = nil
	}
	return d.errs, data
}

// marshalJSON is kyaml's RNode.MarshalJSON for a decoded object. That writes the node out as YAML
// and parses the text again before converting it; an object without aliases converts the same
// straight from its nodes, which costs a fraction. Aliases, and anything the direct conversion
// refuses, take kyaml's way, so that the result and its errors stay kyaml's: an alias whose anchor
// was dropped as an unknown field, for one, does not survive writing out.
func marshalJSON(n *yaml.Node) ([]byte, error) {
	if n.Kind == yaml.MappingNode && !hasAlias(n) {
		m := map[string]any{}
		if err := n.Decode(&m); err == nil {
			if data, err := json.Marshal(m); err == nil {
				return data, nil
			}
		}
	}
	return yaml.NewRNode(n).MarshalJSON()
}

// hasAlias reports whether n or a node under it is an alias.
func hasAlias(n *yaml.Node) bool {
	if n.Kind == yaml.AliasNode {
		return true
	}
	for _, c := range n.Content {
		if hasAlias(c) {
			return true
		}
	}
	return false
}

// KeyPath is the path of a map entry: .key for plain keys, as people write them in YAML, and
// ["key"] for keys with dots or slashes, such as node label names.
func KeyPath(path *field.Path, key string) *field.Path {
	if redact.LooksSecret(key) {
		return path.Key(redact.String(key))
	}
	if isPlainKey(key) {
		return path.Child(key)
	}
	return path.Key(strconv.Quote(key))
}

// isPlainKey: letters, digits, '_' and '-', at least one. (Written out: a regular expression
// would be compiled on every start of the function.)
func isPlainKey(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && c != '_' && c != '-' {
			return false
		}
	}
	return s != ""
}

// Aliases let a small document stand for a huge one. The decoder visits at most aliasFactor nodes
// per node of the input, plus aliasAllowance, so that any input is decoded in time proportional
// to its size; a document whose aliases expand further is refused.
const (
	aliasFactor    = 16
	aliasAllowance = 10000
)

type decoder struct {
	errs      field.ErrorList
	budget    int
	visits    int
	exhausted bool
}

// countNodes counts the nodes of a document as written, aliases not followed.
func countNodes(n *yaml.Node) int {
	count, stack := 0, []*yaml.Node{n}
	for len(stack) > 0 {
		n, stack = stack[len(stack)-1], stack[:len(stack)-1]
		count++
		stack = append(stack, n.Content...)
	}
	return count
}

// invalid records a value of the wrong type or form.
func (d *decoder) invalid(path *field.Path, n *yaml.Node, msg string) {
	d.errs = append(d.errs, field.Invalid(path, valueOf(path, n), msg))
}

var (
	quantityType    = reflect.TypeOf(resource.Quantity{})
	intOrStringType = reflect.TypeOf(intstr.IntOrString{})
	durationType    = reflect.TypeOf(metav1.Duration{})
	objectMetaType  = reflect.TypeOf(metav1.ObjectMeta{})
)

// walk checks n against t and reports whether n can be decoded; nodes that cannot are removed by
// the caller.
func (d *decoder) walk(n *yaml.Node, t reflect.Type, path *field.Path) bool {
	if !d.visit(path) {
		return false
	}
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == yaml.NodeTagNull {
		return true
	}
	if ok, known := d.walkKnownType(n, t, path); known {
		return ok
	}
	switch t.Kind() {
	case reflect.Struct:
		return d.walkStruct(n, t, path)
	case reflect.Map:
		return d.walkMap(n, t, path)
	case reflect.Slice:
		return d.walkSlice(n, t, path)
	case reflect.Interface:
		return true
	}
	return d.walkScalar(n, t, path)
}

// visit counts one more node visited and reports whether the alias budget allows it; the first
// time it does not, the object as a whole is refused.
func (d *decoder) visit(path *field.Path) bool {
	if d.visits++; d.visits <= d.budget {
		return true
	}
	if !d.exhausted {
		d.exhausted = true
		// Reported for the object as a whole: nothing in it can be trusted to be decoded.
		d.errs = append(d.errs, field.Forbidden(nil, fmt.Sprintf(
			"YAML aliases expand this object beyond %d nodes (it is written in %d; the expansion passed %s): write the repeated values out or nest fewer aliases",
			d.budget, (d.budget-aliasAllowance)/aliasFactor, path)))
	}
	return false
}

// walkKnownType checks the Kubernetes types that are written as scalars of their own form
// (quantities, durations, int-or-strings) and object metadata, which the API server checks. known
// is false for any other type.
func (d *decoder) walkKnownType(n *yaml.Node, t reflect.Type, path *field.Path) (ok, known bool) {
	switch t {
	case objectMetaType:
		return d.expect(n, yaml.MappingNode, path, "an object"), true
	case quantityType:
		if !d.scalar(n, path, "a quantity such as 500m or 1Gi", yaml.NodeTagString, yaml.NodeTagInt, yaml.NodeTagFloat) {
			return false, true
		}
		if _, err := resource.ParseQuantity(n.Value); err != nil {
			d.invalid(path, n, "invalid quantity "+valueOf(path, n)+": use a number with an optional suffix such as 500m, 2 or 4Gi")
			return false, true
		}
		return true, true
	case intOrStringType:
		return d.scalar(n, path, "an integer or a percentage", yaml.NodeTagInt, yaml.NodeTagString), true
	case durationType:
		if !d.scalar(n, path, "a duration such as 30s", yaml.NodeTagString) {
			return false, true
		}
		if _, err := time.ParseDuration(n.Value); err != nil {
			d.invalid(path, n, "invalid duration "+valueOf(path, n)+": use a duration such as 30s or 1m")
			return false, true
		}
		return true, true
	}
	return false, false
}

// walkStruct checks a mapping against the fields of struct t: unknown keys are reported and
// dropped, and so are values that cannot be decoded.
func (d *decoder) walkStruct(n *yaml.Node, t reflect.Type, path *field.Path) bool {
	if !d.expect(n, yaml.MappingNode, path, "an object") {
		return false
	}
	fields := fieldsOf(t)
	kept := n.Content[:0]
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		p := KeyPath(path, k.Value)
		f, ok := fields[k.Value]
		if !ok {
			d.errs = append(d.errs, field.Forbidden(p, unknownField(k.Value, fields)))
			continue
		}
		if d.walk(v, f, p) {
			kept = append(kept, k, v)
		}
	}
	n.Content = kept
	return true
}

// walkMap checks each value of a mapping against the element type of map t, dropping those that
// cannot be decoded.
func (d *decoder) walkMap(n *yaml.Node, t reflect.Type, path *field.Path) bool {
	if !d.expect(n, yaml.MappingNode, path, "an object") {
		return false
	}
	kept := n.Content[:0]
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if d.walk(v, t.Elem(), KeyPath(path, k.Value)) {
			kept = append(kept, k, v)
		}
	}
	n.Content = kept
	return true
}

// walkSlice checks each item of a sequence against the element type of slice t.
func (d *decoder) walkSlice(n *yaml.Node, t reflect.Type, path *field.Path) bool {
	if !d.expect(n, yaml.SequenceNode, path, "a list") {
		return false
	}
	for i, v := range n.Content {
		// A bad item becomes null rather than going away, so the items after it keep the
		// indexes that the caller's messages name.
		if !d.walk(v, t.Elem(), path.Index(i)) {
			n.Content[i] = &yaml.Node{Kind: yaml.ScalarNode, Tag: yaml.NodeTagNull, Value: "null"}
		}
	}
	return true
}

// walkScalar checks a scalar against a string, boolean or number type, numbers against the range
// of their type.
func (d *decoder) walkScalar(n *yaml.Node, t reflect.Type, path *field.Path) bool {
	switch t.Kind() {
	case reflect.String:
		return d.scalar(n, path, "a string (quote values such as \"1.0\" or \"true\")", yaml.NodeTagString)
	case reflect.Bool:
		return d.scalar(n, path, "true or false", yaml.NodeTagBool)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return d.walkInt(n, t, path)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return d.walkUint(n, t, path)
	case reflect.Float32, reflect.Float64:
		return d.scalar(n, path, "a number", yaml.NodeTagInt, yaml.NodeTagFloat)
	}
	d.invalid(path, n, "cannot be decoded into "+t.String())
	return false
}

// walkInt checks an integer against the range of signed integer type t.
func (d *decoder) walkInt(n *yaml.Node, t reflect.Type, path *field.Path) bool {
	if !d.scalar(n, path, "an integer", yaml.NodeTagInt) {
		return false
	}
	v, err := strconv.ParseInt(n.Value, 0, 64)
	bits := t.Bits()
	if err != nil || v < -(1<<(bits-1)) || (bits < 64 && v > 1<<(bits-1)-1) {
		d.invalid(path, n, fmt.Sprintf("%s is out of range for a %d-bit integer", numberOf(path, n), bits))
		return false
	}
	return true
}

// walkUint checks an integer against the range of unsigned integer type t.
func (d *decoder) walkUint(n *yaml.Node, t reflect.Type, path *field.Path) bool {
	if !d.scalar(n, path, "an integer", yaml.NodeTagInt) {
		return false
	}
	v, err := strconv.ParseUint(n.Value, 0, 64)
	if err != nil || (t.Bits() < 64 && v > math.MaxUint64>>(64-t.Bits())) {
		d.invalid(path, n, fmt.Sprintf("%s is out of range for an unsigned %d-bit integer", numberOf(path, n), t.Bits()))
		return false
	}
	return true
}

// dropRepeatedKeys reports every key given twice in one mapping, which YAML forbids, and keeps
// the first. Lines are those of the function's input. Aliases are not followed: what they name
// is checked where it is written.
func (d *decoder) dropRepeatedKeys(n *yaml.Node, path *field.Path) {
	switch n.Kind {
	case yaml.MappingNode:
		kept, seen := n.Content[:0], map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := KeyPath(path, k.Value)
			if line, dup := seen[k.Value]; dup {
				d.errs = append(d.errs, &field.Error{Type: field.ErrorTypeDuplicate, Field: p.String(), BadValue: redact.String(k.Value),
					Detail: fmt.Sprintf("%s is given twice, on lines %d and %d of the input; YAML allows a key once", redact.String(k.Value), line, k.Line)})
				continue
			}
			seen[k.Value] = k.Line
			d.dropRepeatedKeys(v, p)
			kept = append(kept, k, v)
		}
		n.Content = kept
	case yaml.SequenceNode:
		for i, c := range n.Content {
			d.dropRepeatedKeys(c, path.Index(i))
		}
	}
}

// expect reports whether n is of kind, and records a type error naming what was expected
// where it is not.
func (d *decoder) expect(n *yaml.Node, kind yaml.Kind, path *field.Path, what string) bool {
	if n.Kind != kind {
		d.errs = append(d.errs, field.TypeInvalid(path, valueOf(path, n), fmt.Sprintf("must be %s, not %s", what, describe(path, n))))
		return false
	}
	return true
}

// scalar reports whether n is a scalar with one of tags, and records a type error naming what
// was expected where it is not.
func (d *decoder) scalar(n *yaml.Node, path *field.Path, what string, tags ...string) bool {
	if n.Kind == yaml.ScalarNode {
		for _, t := range tags {
			if n.ShortTag() == t {
				return true
			}
		}
	}
	d.errs = append(d.errs, field.TypeInvalid(path, valueOf(path, n), fmt.Sprintf("must be %s, not %s", what, describe(path, n))))
	return false
}

// describe says what n is for a message, showing of its value what redact allows.
func describe(path *field.Path, n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "an object"
	case yaml.SequenceNode:
		return "a list"
	}
	secret := redact.SecretField(path.String())
	switch n.ShortTag() {
	case yaml.NodeTagString:
		if secret {
			return "a string"
		}
		return "the string " + redact.String(n.Value)
	case yaml.NodeTagBool:
		if secret {
			return "a boolean"
		}
		return "the boolean " + n.Value
	case yaml.NodeTagInt, yaml.NodeTagFloat:
		if secret {
			return "a number"
		}
		if len(n.Value) <= 15 {
			return "the number " + n.Value
		}
		return numberOf(path, n)
	}
	return valueOf(path, n)
}

// numberOf shows the number n at path: as written when it is short, else by its length.
func numberOf(path *field.Path, n *yaml.Node) string {
	switch {
	case redact.SecretField(path.String()):
		return "the number"
	case len(n.Value) <= 15:
		return n.Value
	}
	return "a number of " + strconv.Itoa(len(n.Value)) + " characters"
}

// valueOf describes the scalar n at path as redact allows.
func valueOf(path *field.Path, n *yaml.Node) string {
	if redact.SecretField(path.String()) {
		return redact.Secret(n.Value)
	}
	return redact.String(n.Value)
}

// renames are fields of the Helm values layout that the declaration spells differently.
var renames = map[string]string{"replicaCount": "replicas"}

// unknownField is the message for an unknown key: it suggests the field meant where one is close
// (or renamed from the Helm values layout), and does not repeat a key that looks secret.
func unknownField(name string, fields map[string]reflect.Type) string {
	if !isPlainKey(name) || redact.LooksSecret(name) {
		return "unknown field " + redact.String(name)
	}
	msg := fmt.Sprintf("unknown field %q", name)
	if r, ok := renames[name]; ok {
		if _, known := fields[r]; known {
			return msg + fmt.Sprintf(" (it is called %q here)", r)
		}
	}
	best, bestDist := "", 3
	for f := range fields {
		if dist := distance(strings.ToLower(name), strings.ToLower(f)); dist < bestDist || (dist == bestDist && f < best) {
			best, bestDist = f, dist
		}
	}
	if best != "" {
		return msg + fmt.Sprintf(" (did you mean %q?)", best)
	}
	return msg
}

// distance is the Levenshtein distance of a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

var fieldCache sync.Map // reflect.Type → map[string]reflect.Type

// fieldsOf maps the JSON names of t's fields, including inlined embedded structs, to their types.
func fieldsOf(t reflect.Type) map[string]reflect.Type {
	if f, ok := fieldCache.Load(t); ok {
		return f.(map[string]reflect.Type)
	}
	fields := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if sf.Anonymous && (name == "" || strings.Contains(opts, "inline")) {
			et := sf.Type
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				for k, v := range fieldsOf(et) {
					fields[k] = v
				}
				continue
			}
		}
		if !sf.IsExported() {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		fields[name] = sf.Type
	}
	fieldCache.Store(t, fields)
	return fields
}

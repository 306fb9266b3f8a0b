package avsexecutor

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// encodeObject writes a typed API object as a YAML node directly: the node that the API
// machinery's unstructured form (runtime.DefaultUnstructuredConverter), cleaned by clean and
// without status, gives when marshalled and parsed again (yaml.FromMap), minus the text in
// between. Both steps cost more than rendering itself, and the converter's field cache grows by
// copying, so that its first use in a process is quadratic in the fields of a StatefulSet.
//
// It returns errUnencodable for a value it does not know how to write as that round trip would;
// the caller then takes the round trip. encode_test.go holds the two to the same output.
func encodeObject(obj any) (*yaml.Node, error) {
	v := reflect.ValueOf(obj)
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil, errUnencodable
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct || special(v.Type()) != kindPlain {
		return nil, errUnencodable
	}
	return encodeStruct(v, true)
}

var errUnencodable = errors.New("no direct YAML encoding")

// encode returns v's node, or nil where the unstructured form has no value (nil, or an empty
// object that clean drops).
func encode(v reflect.Value) (*yaml.Node, error) {
	if k := v.Kind(); k == reflect.Pointer || k == reflect.Interface {
		// The converter writes what a pointer points to as that value, custom forms included.
		if v.IsNil() {
			return nil, nil
		}
		return encode(v.Elem())
	}
	switch special(v.Type()) {
	case kindQuantity:
		q := v.Interface().(resource.Quantity)
		return stringNode(q.String())
	case kindIntOrString:
		is := v.Interface().(intstr.IntOrString)
		if is.Type == intstr.String {
			return stringNode(is.StrVal)
		}
		if is.Type != intstr.Int {
			return nil, errUnencodable
		}
		return intNode(int64(is.IntVal)), nil
	case kindTime:
		if t := v.Interface().(metav1.Time); t.IsZero() {
			return nil, nil
		}
		return nil, errUnencodable
	case kindOther:
		return nil, errUnencodable
	}
	switch v.Kind() {
	case reflect.String:
		return stringNode(v.String())
	case reflect.Bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: yaml.NodeTagBool, Value: strconv.FormatBool(v.Bool())}, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return intNode(v.Int()), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if v.Uint() > 1<<63-1 {
			return nil, errUnencodable
		}
		return intNode(int64(v.Uint())), nil
	case reflect.Struct:
		return encodeStruct(v, false)
	case reflect.Map:
		return encodeMap(v)
	case reflect.Slice:
		return encodeSlice(v)
	}
	return nil, errUnencodable
}

func intNode(i int64) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: yaml.NodeTagInt, Value: strconv.FormatInt(i, 10)}
}

// stringNode is a string scalar in the style the YAML encoder picks: literal for several lines,
// double quotes where a plain scalar would read as something else (YAML 1.1 booleans and base 60
// numbers included), plain otherwise. (Where the encoder then quotes a plain scalar for its
// characters, parsing marks it single-quoted; writing either out gives the same bytes.)
func stringNode(s string) (*yaml.Node, error) {
	if !utf8.ValidString(s) {
		return nil, errUnencodable // the encoder writes it as !!binary
	}
	n := &yaml.Node{Kind: yaml.ScalarNode, Tag: yaml.NodeTagString, Value: s}
	switch {
	case strings.Contains(s, "\n"):
		n.Style = yaml.LiteralStyle
	case !readsAsString(s):
		n.Style = yaml.DoubleQuotedStyle
	}
	return n, nil
}

// readsAsString reports whether s, written as a plain scalar, reads back as the same string in
// YAML 1.2 and in YAML 1.1.
func readsAsString(s string) bool {
	if (&yaml.Node{Kind: yaml.ScalarNode, Value: s}).ShortTag() != yaml.NodeTagString {
		return false
	}
	switch s {
	case "y", "Y", "yes", "Yes", "YES", "on", "On", "ON",
		"n", "N", "no", "No", "NO", "off", "Off", "OFF":
		return false
	}
	return !isSexagesimal(s)
}

// isSexagesimal reports whether s is a YAML 1.1 base 60 number, such as 1:20 or -3:25:45.5.
func isSexagesimal(s string) bool {
	if s != "" && (s[0] == '+' || s[0] == '-') {
		s = s[1:]
	}
	head, rest, ok := strings.Cut(s, ":")
	if !ok || head == "" || head[0] < '0' || head[0] > '9' || strings.Trim(head, "0123456789_") != "" {
		return false
	}
	// rest is one or more groups of one or two digits, the first at most 5, separated by
	// colons; the last may go on with a fraction.
	for {
		i := 0
		for i < len(rest) && i < 2 && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 || (i == 2 && rest[0] > '5') {
			return false
		}
		rest = rest[i:]
		switch {
		case rest == "":
			return true
		case rest[0] == ':':
			rest = rest[1:]
		case rest[0] == '.':
			return strings.Trim(rest[1:], "0123456789_") == ""
		default:
			return false
		}
	}
}

func encodeStruct(v reflect.Value, top bool) (*yaml.Node, error) {
	var pairs []pair
	if err := appendFields(&pairs, v, top); err != nil {
		return nil, err
	}
	return mapping(pairs, false)
}

type pair struct {
	key   string
	value *yaml.Node
}

// appendFields adds the fields of struct v as the unstructured converter names them: by json
// tag, inlined fields in place, omitempty and omitzero honoured; status is left out of objects.
func appendFields(pairs *[]pair, v reflect.Value, top bool) error {
	for _, f := range fieldsOf(v.Type()) {
		if f.skip {
			continue
		}
		if f.unexported {
			return errUnencodable
		}
		fv := v.Field(f.index)
		switch {
		case f.omitEmpty && isEmpty(fv), f.omitZero && isZero(fv), top && f.name == "status":
			continue
		case f.name == "":
			if fv.Kind() == reflect.Pointer {
				if fv.IsNil() {
					continue
				}
				fv = fv.Elem()
			}
			if fv.Kind() != reflect.Struct || special(fv.Type()) != kindPlain {
				return errUnencodable
			}
			if err := appendFields(pairs, fv, top); err != nil {
				return err
			}
			continue
		}
		n, err := encode(fv)
		if err != nil {
			return err
		}
		*pairs = append(*pairs, pair{f.name, n})
	}
	return nil
}

type fieldInfo struct {
	index               int
	name                string // "" for an inlined field
	skip, unexported    bool
	omitEmpty, omitZero bool
}

var fieldCache sync.Map // reflect.Type -> []fieldInfo

// fieldsOf names the fields of t as the unstructured converter does: by the json tag's name, else
// the Go name; an embedded field without a name is inlined.
func fieldsOf(t reflect.Type) []fieldInfo {
	if fs, ok := fieldCache.Load(t); ok {
		return fs.([]fieldInfo)
	}
	fs := make([]fieldInfo, 0, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		f := fieldInfo{index: i, unexported: !sf.IsExported()}
		name, opts, _ := strings.Cut(sf.Tag.Get("json"), ",")
		f.name = name
		if name == "" && !sf.Anonymous {
			f.name = sf.Name
		}
		for _, o := range strings.Split(opts, ",") {
			f.omitEmpty = f.omitEmpty || o == "omitempty"
			f.omitZero = f.omitZero || o == "omitzero"
		}
		f.skip = f.name == "-"
		fs = append(fs, f)
	}
	fieldCache.Store(t, fs)
	return fs
}

// isEmpty is omitempty's test.
func isEmpty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.String:
		return v.Len() == 0
	case reflect.Bool:
		return !v.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int() == 0
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return v.Uint() == 0
	case reflect.Float32, reflect.Float64:
		return v.Float() == 0
	case reflect.Map, reflect.Slice:
		return v.IsNil() || v.Len() == 0
	case reflect.Pointer, reflect.Interface:
		return v.IsNil()
	}
	return false
}

// isZero is omitzero's test: the type's IsZero method if it has one, else the zero value.
func isZero(v reflect.Value) bool {
	if z, ok := v.Interface().(interface{ IsZero() bool }); ok {
		if v.Kind() == reflect.Pointer && v.IsNil() {
			return true
		}
		return z.IsZero()
	}
	return v.IsZero()
}

func encodeMap(v reflect.Value) (*yaml.Node, error) {
	if v.IsNil() {
		return nil, nil
	}
	if v.Type().Key().Kind() != reflect.String {
		return nil, errUnencodable
	}
	pairs := make([]pair, 0, v.Len())
	it := v.MapRange()
	for it.Next() {
		n, err := encode(it.Value())
		if err != nil {
			return nil, err
		}
		pairs = append(pairs, pair{it.Key().String(), n})
	}
	return mapping(pairs, true)
}

// mapping builds a mapping of pairs as clean leaves it: nil values and empty objects (but an
// emptyDir) dropped, keys in the YAML encoder's order. It returns a node without entries as is;
// the caller drops it.
func mapping(pairs []pair, unsorted bool) (*yaml.Node, error) {
	kept := pairs[:0]
	for _, p := range pairs {
		if p.value == nil || (p.value.Kind == yaml.MappingNode && len(p.value.Content) == 0 && p.key != "emptyDir") {
			continue
		}
		kept = append(kept, p)
	}
	if err := sortKeys(kept); err != nil {
		return nil, err
	}
	n := &yaml.Node{Kind: yaml.MappingNode, Tag: yaml.NodeTagMap, Content: make([]*yaml.Node, 0, 2*len(kept))}
	if len(kept) == 0 {
		n.Style = yaml.FlowStyle
	}
	for i, p := range kept {
		if i > 0 && p.key == kept[i-1].key {
			return nil, errUnencodable // a field and an inlined one of the same name
		}
		k, err := stringNode(p.key)
		if err != nil {
			return nil, err
		}
		n.Content = append(n.Content, k, p.value)
	}
	return n, nil
}

// sortKeys puts pairs in the order the YAML encoder writes map keys in: a natural order, in
// which digits compare as numbers and letters sort after other characters. For keys of letters
// and the punctuation below 'A' alone, that order is the byte order; other keys are ordered by
// the encoder itself.
func sortKeys(pairs []pair) error {
	simple := true
	for _, p := range pairs {
		if !byteOrdered(p.key) {
			simple = false
			break
		}
	}
	if simple {
		slices.SortFunc(pairs, func(a, b pair) int { return strings.Compare(a.key, b.key) })
		return nil
	}
	keys := make(map[string]int, len(pairs))
	for i, p := range pairs {
		keys[p.key] = i
	}
	var n yaml.Node
	if err := n.Encode(keys); err != nil {
		return err
	}
	if len(n.Content) != 2*len(keys) {
		return errUnencodable
	}
	sorted := make([]pair, 0, len(pairs))
	for i := 0; i < len(n.Content); i += 2 {
		j, ok := keys[n.Content[i].Value]
		if !ok {
			return errUnencodable
		}
		sorted = append(sorted, pairs[j])
	}
	copy(pairs, sorted)
	return nil
}

// byteOrdered reports whether key is ASCII letters and characters below 'A' other than digits,
// for which the encoder's order and the byte order agree.
func byteOrdered(key string) bool {
	for i := 0; i < len(key); i++ {
		c := key[i]
		if c >= '0' && c <= '9' || c > 'Z' && c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

func encodeSlice(v reflect.Value) (*yaml.Node, error) {
	if v.IsNil() {
		return nil, nil
	}
	if v.Type().Elem().Kind() == reflect.Uint8 {
		if special(v.Type().Elem()) != kindPlain {
			return nil, errUnencodable
		}
		return stringNode(base64.StdEncoding.EncodeToString(v.Bytes()))
	}
	return sequenceNode(v, func(e reflect.Value) (*yaml.Node, error) {
		n, err := encode(e)
		if n == nil && err == nil {
			n = nullNode()
		}
		return n, err
	})
}

// sequenceNode is the sequence of slice v's elements as elem writes them, in flow style when empty
// as the YAML encoder writes it.
func sequenceNode(v reflect.Value, elem func(reflect.Value) (*yaml.Node, error)) (*yaml.Node, error) {
	n := &yaml.Node{Kind: yaml.SequenceNode, Tag: yaml.NodeTagSeq, Content: make([]*yaml.Node, 0, v.Len())}
	if v.Len() == 0 {
		n.Style = yaml.FlowStyle
	}
	for i := 0; i < v.Len(); i++ {
		e, err := elem(v.Index(i))
		if err != nil {
			return nil, err
		}
		n.Content = append(n.Content, e)
	}
	return n, nil
}

func nullNode() *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: yaml.NodeTagNull, Value: "null"}
}

// Types the unstructured converter writes with their own methods.
type specialKind int

const (
	kindPlain specialKind = iota
	kindQuantity
	kindIntOrString
	kindTime
	kindOther // a type with its own JSON or unstructured form this encoder does not know
)

var specialCache sync.Map // reflect.Type -> specialKind

var (
	quantityType    = reflect.TypeOf(resource.Quantity{})
	intOrStringType = reflect.TypeOf(intstr.IntOrString{})
	timeType        = reflect.TypeOf(metav1.Time{})
	marshalerType   = reflect.TypeOf((*json.Marshaler)(nil)).Elem()
	converterType   = reflect.TypeOf((*interface{ ToUnstructured() any })(nil)).Elem()
	converterEType  = reflect.TypeOf((*interface{ ToUnstructuredWithError() (any, error) })(nil)).Elem()
)

func special(t reflect.Type) specialKind {
	if k, ok := specialCache.Load(t); ok {
		return k.(specialKind)
	}
	k := kindPlain
	switch t {
	case quantityType:
		k = kindQuantity
	case intOrStringType:
		k = kindIntOrString
	case timeType:
		k = kindTime
	default:
		for _, c := range []reflect.Type{t, reflect.PointerTo(t)} {
			if c.Implements(marshalerType) || c.Implements(converterType) || c.Implements(converterEType) {
				k = kindOther
			}
		}
	}
	specialCache.Store(t, k)
	return k
}

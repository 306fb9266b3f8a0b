// Package crd reads the function's generated CustomResourceDefinitions (functions/schema/*.yaml)
// into OpenAPI schemas, as the API server reads a CRD. The schema generator and the test that
// holds the function's compiled-in schemas to the CRDs share it; the function itself does not
// parse YAML schemas at run time.
package crd

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"

	"k8s.io/kube-openapi/pkg/validation/spec"
	"sigs.k8s.io/yaml"
)

// Version is the API version whose schemas the function checks objects against.
const Version = "v1alpha1"

// crd is the part of a CustomResourceDefinition that holds the schemas.
type crd struct {
	Spec struct {
		Names    struct{ Kind string }
		Versions []struct {
			Name   string
			Schema struct {
				OpenAPIV3Schema json.RawMessage `json:"openAPIV3Schema"`
			}
		}
	}
}

// Load reads every *.yaml CRD in dir and returns the schema of Version of each kind.
func Load(dir string) (map[string]*spec.Schema, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	out := map[string]*spec.Schema{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var c crd
		if err := yaml.Unmarshal(b, &c); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		for _, v := range c.Spec.Versions {
			if v.Name != Version {
				continue
			}
			s := &spec.Schema{}
			if err := json.Unmarshal(v.Schema.OpenAPIV3Schema, s); err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			out[c.Spec.Names.Kind] = s
		}
	}
	return out, nil
}

// WithoutDocs clears the descriptions of s and its subschemas in place: the validator never reads
// them, and they are most of a CRD's bytes.
func WithoutDocs(s *spec.Schema) {
	walk(reflect.ValueOf(s))
}

var schemaType = reflect.TypeOf(spec.Schema{})

// walk clears the description of every schema reachable from v.
func walk(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			walk(v.Elem())
		}
	case reflect.Struct:
		if v.Type() == schemaType && v.CanAddr() {
			v.Addr().Interface().(*spec.Schema).Description = ""
		}
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				walk(v.Field(i))
			}
		}
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			walk(v.Index(i))
		}
	case reflect.Map:
		// Map values are not addressable: clear a copy and put it back.
		for _, k := range v.MapKeys() {
			e := reflect.New(v.Type().Elem()).Elem()
			e.Set(v.MapIndex(k))
			walk(e)
			v.SetMapIndex(k, e)
		}
	}
}

// Package schema generates the JSON Schema of imgbuild manifests from the
// Go types in package manifest: field names from yaml tags, descriptions
// from doc tags, required fields from required tags, and no properties
// beyond the declared ones (the decoder is just as strict). Editors use
// it to complete and check manifests; docs/manifest.schema.json is its
// output, kept in step by a test.
package schema

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	"github.com/imgbuild/imgbuild/manifest"
)

// Draft is the JSON Schema dialect of the generated schema.
const Draft = "https://json-schema.org/draft/2020-12/schema"

// Schema is a JSON Schema document or subschema.
type Schema map[string]any

// Manifest returns the schema of a manifest file.
func Manifest() Schema {
	s := forType(reflect.TypeFor[manifest.Manifest]())
	s["$schema"] = Draft
	s["title"] = "imgbuild manifest"
	return s
}

// JSON is Manifest as indented JSON with a trailing newline.
func JSON() ([]byte, error) {
	data, err := json.MarshalIndent(Manifest(), "", "  ")
	if err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	return append(data, '\n'), nil
}

// special are the manifest's own scalar types, written as text in YAML.
var special = map[reflect.Type]Schema{
	reflect.TypeFor[manifest.Size](): {"anyOf": []Schema{
		{"type": "integer", "minimum": 0},
		{"type": "string", "pattern": `^\s*[0-9]+\s*(KiB|MiB|GiB|TiB|B)?$`},
	}},
	reflect.TypeFor[manifest.Duration](): {"type": "string", "pattern": `^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`},
	reflect.TypeFor[manifest.Mode](): {"anyOf": []Schema{
		{"type": "integer", "minimum": 0},
		{"type": "string", "pattern": `^(0o)?[0-7]{1,5}$`},
	}},
}

func forType(t reflect.Type) Schema {
	if s, ok := special[t]; ok {
		return clone(s)
	}
	switch t.Kind() {
	case reflect.Pointer:
		return forType(t.Elem())
	case reflect.String:
		return Schema{"type": "string"}
	case reflect.Bool:
		return Schema{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return Schema{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return Schema{"type": "number"}
	case reflect.Slice, reflect.Array:
		return Schema{"type": "array", "items": forType(t.Elem())}
	case reflect.Map:
		return Schema{"type": "object", "additionalProperties": forType(t.Elem())}
	case reflect.Struct:
		return forStruct(t)
	}
	panic(fmt.Sprintf("schema: no JSON Schema for Go type %s", t))
}

func forStruct(t reflect.Type) Schema {
	props := Schema{}
	var required []string
	var anyOf []Schema
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		s := forType(f.Type)
		if doc := f.Tag.Get("doc"); doc != "" {
			s["description"] = doc
		}
		props[name] = s
		if f.Tag.Get("required") == "true" {
			required = append(required, name)
		}
		if alt := f.Tag.Get("requiredUnless"); alt != "" {
			anyOf = append(anyOf, Schema{"required": []string{name}}, Schema{"required": []string{alt}})
		}
	}
	s := Schema{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		s["required"] = required
	}
	if len(anyOf) > 0 {
		s["anyOf"] = anyOf
	}
	return s
}

func clone(s Schema) Schema {
	out := Schema{}
	for k, v := range s {
		out[k] = v
	}
	return out
}

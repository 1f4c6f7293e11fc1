package manifest

import (
	"bytes"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/imgbuild/imgbuild/internal/textdist"
)

// Error is a manifest problem at a place in a file.
type Error struct {
	File      string
	Line, Col int
	Msg       string
}

func (e *Error) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
}

type position struct{ line, col int }

// positions maps a field path such as "services[1].health.http" to where
// its key (or sequence item) stands in the file.
type positions map[string]position

// Load reads, strictly decodes and validates a manifest file.
func Load(path string) (*Manifest, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes manifest bytes; path is used in error messages and to
// resolve relative paths.
func Parse(path string, data []byte) (*Manifest, error) {
	m := &Manifest{File: path, pos: positions{}}
	if err := decodeStrict(path, data, m, m.pos); err != nil {
		return nil, err
	}
	if err := m.validate(); err != nil {
		return nil, err
	}
	m.applyDefaults()
	return m, nil
}

// decodeStrict decodes one YAML document into v (a pointer to struct),
// rejecting unknown and duplicate fields, missing required fields and
// values of the wrong shape, each with file:line:col.
func decodeStrict(file string, data []byte, v any, pos positions) error {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		return &Error{File: file, Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	if len(doc.Content) == 0 {
		return &Error{File: file, Msg: "empty document"}
	}
	c := checker{file: file, pos: pos}
	if err := c.check(doc.Content[0], reflect.TypeOf(v).Elem(), ""); err != nil {
		return err
	}
	if err := doc.Content[0].Decode(v); err != nil {
		return &Error{File: file, Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	return nil
}

type checker struct {
	file string
	pos  positions
}

func (c checker) errAt(n *yaml.Node, format string, args ...any) error {
	return &Error{File: c.file, Line: n.Line, Col: n.Column, Msg: fmt.Sprintf(format, args...)}
}

var scalarParsers = map[reflect.Type]func(string) error{
	reflect.TypeOf(Size(0)):     func(s string) error { _, err := ParseSize(s); return err },
	reflect.TypeOf(Duration(0)): func(s string) error { _, err := parseDuration(s); return err },
	reflect.TypeOf(Mode(0)):     func(s string) error { _, err := parseMode(s); return err },
}

func (c checker) check(n *yaml.Node, t reflect.Type, path string) error {
	if n.Kind == yaml.AliasNode {
		return c.errAt(n, "%s: aliases are not supported", name(path))
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if parse, ok := scalarParsers[t]; ok {
		if n.Kind != yaml.ScalarNode {
			return c.errAt(n, "%s: want a single value", name(path))
		}
		if err := parse(n.Value); err != nil {
			return c.errAt(n, "%s: %v", name(path), err)
		}
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		return c.checkStruct(n, t, path)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return c.errAt(n, "%s: want a list", name(path))
		}
		for i, item := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			c.pos[p] = position{item.Line, item.Column}
			if err := c.check(item, t.Elem(), p); err != nil {
				return err
			}
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return c.errAt(n, "%s: want a mapping of names to values", name(path))
		}
		seen := map[string]bool{}
		for i := 0; i < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if seen[k.Value] {
				return c.errAt(k, "%s: duplicate key %q", name(path), k.Value)
			}
			seen[k.Value] = true
			c.pos[path+"."+k.Value] = position{k.Line, k.Column}
			if err := c.check(v, t.Elem(), path+"."+k.Value); err != nil {
				return err
			}
		}
	case reflect.String:
		if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
			return c.errAt(n, "%s: want a string", name(path))
		}
	case reflect.Int, reflect.Int64:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
			return c.errAt(n, "%s: want a whole number, got %q", name(path), n.Value)
		}
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
			return c.errAt(n, "%s: want true or false, got %q", name(path), n.Value)
		}
	}
	return nil
}

func (c checker) checkStruct(n *yaml.Node, t reflect.Type, path string) error {
	if n.Kind != yaml.MappingNode {
		return c.errAt(n, "%s: want a mapping (key: value lines)", name(path))
	}
	fields := yamlFields(t)
	seen := map[string]bool{}
	for i := 0; i < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		f, ok := fields[k.Value]
		if !ok {
			return c.errAt(k, "unknown field %q in %s%s", k.Value, name(path), suggest(k.Value, fields))
		}
		if seen[k.Value] {
			return c.errAt(k, "field %q appears twice in %s", k.Value, name(path))
		}
		seen[k.Value] = true
		p := join(path, k.Value)
		c.pos[p] = position{k.Line, k.Column}
		if err := c.check(v, f.Type, p); err != nil {
			return err
		}
	}
	for key, f := range fields {
		if f.Tag.Get("required") == "true" && !seen[key] {
			return c.errAt(n, "%s: missing required field %q", name(path), key)
		}
		if alt := f.Tag.Get("requiredUnless"); alt != "" && !seen[key] && !seen[alt] {
			return c.errAt(n, "%s: missing field %q (required unless %q is set)", name(path), key, alt)
		}
	}
	return nil
}

func yamlFields(t reflect.Type) map[string]reflect.StructField {
	out := map[string]reflect.StructField{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if tag == "" || tag == "-" || !f.IsExported() {
			continue
		}
		out[tag] = f
	}
	return out
}

// suggest names the closest known field, for typos.
func suggest(key string, fields map[string]reflect.StructField) string {
	best, bestD := "", 3
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if d := textdist.Levenshtein(key, k); d < bestD {
			best, bestD = k, d
		}
	}
	if best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return fmt.Sprintf(" (known fields: %s)", strings.Join(names, ", "))
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func name(path string) string {
	if path == "" {
		return "the manifest"
	}
	return path
}

package schema

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"

	"github.com/imgbuild/imgbuild/manifest"
)

// TestCommittedSchemaIsCurrent keeps docs/manifest.schema.json in step
// with the Go types: regenerate it with
// imgbuild manifest schema > docs/manifest.schema.json
func TestCommittedSchemaIsCurrent(t *testing.T) {
	want, err := JSON()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../../docs/manifest.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("docs/manifest.schema.json is stale: run imgbuild manifest schema > docs/manifest.schema.json")
	}
}

func compile(t *testing.T) *jsonschema.Schema {
	t.Helper()
	data, err := JSON()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("manifest.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("manifest.schema.json")
	if err != nil {
		t.Fatalf("the generated schema does not compile: %v", err)
	}
	return s
}

// yamlToJSON reads YAML as the JSON value a schema validator sees.
func yamlToJSON(t *testing.T, data []byte) any {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	j, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestShippedManifestsValidate checks every manifest in manifests/ against
// the schema and against the Go decoder: both must accept it.
func TestShippedManifestsValidate(t *testing.T) {
	s := compile(t)
	files, _ := filepath.Glob("../../manifests/*.yaml")
	if len(files) == 0 {
		t.Fatal("no manifests found in ../manifests")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := manifest.Load(f); err != nil {
				t.Fatalf("decoder: %v", err)
			}
			if err := s.Validate(yamlToJSON(t, data)); err != nil {
				t.Errorf("schema: %v", err)
			}
		})
	}
}

// TestSchemaRejects checks that the schema is as strict as the decoder on
// the usual mistakes.
func TestSchemaRejects(t *testing.T) {
	s := compile(t)
	base := "name: x\nversion: 1.0.0\nkernel: {package: linux-image-cloud-amd64}\n"
	tests := []struct{ name, yaml string }{
		{"unknown top-level field", base + "colour: blue\n"},
		{"unknown nested field", base + "disk: {usr: 64MiB, swap: 1GiB}\n"},
		{"missing required name", "version: 1.0.0\nkernel: {package: k}\n"},
		{"bad size", base + "disk: {usr: lots}\n"},
		{"bad duration", base + "services: [{name: a, command: /a, backoff: {initial: soon}}]\n"},
		{"service without command", base + "services: [{name: a}]\n"},
		{"forward port as text", base + "run: {forwards: [{host: x, guest: 80}]}\n"},
		{"state without mount", base + "services: [{name: a, image: \"x@sha256:00\", state: {dir: /var/lib/a}}]\n"},
	}
	if err := s.Validate(yamlToJSON(t, []byte(base+"disk: {usr: 64MiB}\nfiles: [{path: /etc/x, mode: \"0644\"}]\n"))); err != nil {
		t.Fatalf("a valid manifest is rejected: %v", err)
	}
	if err := s.Validate(yamlToJSON(t, []byte(base+"services: [{name: a, image: \"app@sha256:00\"}]\n"))); err != nil {
		t.Fatalf("a container service without command is rejected: %v", err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.Validate(yamlToJSON(t, []byte(tc.yaml))); err == nil {
				t.Errorf("schema accepts:\n%s", tc.yaml)
			}
		})
	}
}

// TestEveryFieldDocumented makes the doc tags mandatory: the schema's
// descriptions are what editors show.
func TestEveryFieldDocumented(t *testing.T) {
	var walk func(path string, s Schema)
	walk = func(path string, s Schema) {
		if props, ok := s["properties"].(Schema); ok {
			for name, p := range props {
				ps := p.(Schema)
				if d, _ := ps["description"].(string); strings.TrimSpace(d) == "" {
					t.Errorf("%s.%s has no doc tag", path, name)
				}
				walk(path+"."+name, ps)
			}
		}
		if items, ok := s["items"].(Schema); ok {
			walk(path+"[]", items)
		}
	}
	walk("manifest", Manifest())
}

package build

import (
	"strings"
	"testing"
)

func TestLoadAppliesVersion(t *testing.T) {
	m, err := Load("../manifests/minimal.yaml", "")
	if err != nil {
		t.Fatal(err)
	}
	own := m.Version
	m, err = Load("../manifests/minimal.yaml", "9.8.7-rc.1")
	if err != nil {
		t.Fatal(err)
	}
	if m.Version != "9.8.7-rc.1" || own == m.Version {
		t.Errorf("version %q (manifest's own %q), want 9.8.7-rc.1", m.Version, own)
	}
	if _, err := Load("../manifests/minimal.yaml", "nine"); err == nil || !strings.Contains(err.Error(), "--version") {
		t.Errorf("Load with --version nine: %v, want an error naming --version", err)
	}
}

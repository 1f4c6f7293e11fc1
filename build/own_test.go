package build

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgbuild/imgbuild/build/ownbin"
	"github.com/imgbuild/imgbuild/manifest"
)

// TestToolchainWithEmbeddedPrograms: with embedded on-image programs the
// lock records the toolchain that built them and go runs only for a
// manifest's Go binaries, which must use that same toolchain. PATH is
// set to a directory with a fake go (or none), so a stray call shows.
func TestToolchainWithEmbeddedPrograms(t *testing.T) {
	own := &ownbin.Set{Toolchain: "go1.26.8", Digest: strings.Repeat("ab", 32)}
	embeddedPrograms = func() (*ownbin.Set, error) { return own, nil }
	t.Cleanup(func() { embeddedPrograms = ownbin.Embedded })
	debOnly, err := manifest.Parse("debonly.yaml", []byte(lockManifest))
	if err != nil {
		t.Fatal(err)
	}
	withGo, err := manifest.Parse("gobin.yaml", []byte(lockManifest+"  - name: hello\n    go: example.com/hello\n    version: v1.0.0\n"))
	if err != nil {
		t.Fatal(err)
	}
	fakeGo := func(version string) {
		dir := t.TempDir()
		if version != "" {
			script := "#!/bin/sh\necho " + version + "\n"
			if err := os.WriteFile(filepath.Join(dir, "go"), []byte(script), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		t.Setenv("PATH", dir)
	}
	tests := []struct {
		name, goVersion string
		m               *manifest.Manifest
		want, err       string
	}{
		{name: "deb-only, no go", m: debOnly, want: "go1.26.8"},
		{name: "deb-only, another go", m: debOnly, goVersion: "go1.99.0", want: "go1.26.8"},
		{name: "go binary, no go", m: withGo, err: `gobin.yaml:12:5: binary hello is built with Go: go toolchain`},
		{name: "go binary, another go", m: withGo, goVersion: "go1.99.0", err: "binary hello would be built with go1.99.0, but this imgbuild's on-image programs were built with go1.26.8"},
		{name: "go binary, same go", m: withGo, goVersion: "go1.26.8", want: "go1.26.8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fakeGo(tt.goVersion)
			b := &builder{m: tt.m}
			got, gotOwn, err := b.settleToolchain(context.Background())
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("settleToolchain = %q, %v; want error with %q", got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want || gotOwn != own {
				t.Fatalf("settleToolchain = %q, %v (own %v); want %s and the embedded set", got, err, gotOwn, tt.want)
			}
		})
	}

	// The embedded programs are amd64: an arm64 image builds its own
	// with the go on PATH, and says so when there is none.
	arm, err := manifest.Parse("arm.yaml", []byte(strings.Replace(lockManifest, "version: 1.0.0\n", "version: 1.0.0\narch: arm64\n", 1)))
	if err != nil {
		t.Fatal(err)
	}
	fakeGo("go1.99.0")
	if tc, gotOwn, err := (&builder{m: arm}).settleToolchain(context.Background()); err != nil || tc != "go1.99.0" || gotOwn != nil {
		t.Errorf("arm64 with embedded amd64 programs = %q, %v, %v; want go on PATH and no embedded set", tc, gotOwn, err)
	}
	fakeGo("")
	if _, _, err := (&builder{m: arm}).settleToolchain(context.Background()); err == nil || !strings.Contains(err.Error(), "arm.yaml:3:1: the on-image programs this imgbuild embeds are amd64, not arm64") {
		t.Errorf("arm64, no go: %v", err)
	}

	// Without embedded programs even a deb-only manifest needs go, and
	// the error says how to get an imgbuild that does not.
	embeddedPrograms = func() (*ownbin.Set, error) { return nil, nil }
	fakeGo("")
	if _, _, err := (&builder{m: debOnly}).settleToolchain(context.Background()); err == nil || !strings.Contains(err.Error(), "not made by make") {
		t.Errorf("no embedded programs, no go: %v", err)
	}
}

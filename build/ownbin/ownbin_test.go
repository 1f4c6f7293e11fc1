package ownbin

import (
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/imgbuild/imgbuild/manifest"
)

func set(files map[string]string) fstest.MapFS {
	fsys := fstest.MapFS{}
	for n, d := range files {
		fsys[Dir+"/"+n] = &fstest.MapFile{Data: []byte(d)}
	}
	return fsys
}

func TestLoad(t *testing.T) {
	full := map[string]string{ToolchainFile: "go1.26.8\n", "stage1": "one", "sysinit": "two", "sshd": "three", "agent": "four"}
	for _, p := range Programs {
		if _, ok := full[p.Name]; !ok {
			full[p.Name] = "program " + p.Name
		}
	}
	s, err := load(set(full))
	if err != nil || s == nil {
		t.Fatalf("load: %v, %v", s, err)
	}
	if s.Toolchain != "go1.26.8" || string(s.Files["sysinit"]) != "two" || len(s.Digest) != 64 {
		t.Errorf("load: %+v", s)
	}
	// Every byte of every program, and the toolchain, is in the digest.
	for _, change := range []map[string]string{{"stage1": "onE"}, {"sysinit": "two\x00"}, {ToolchainFile: "go1.26.9"}} {
		changed := map[string]string{}
		for k, v := range full {
			changed[k] = v
		}
		for k, v := range change {
			changed[k] = v
		}
		other, err := load(set(changed))
		if err != nil {
			t.Fatal(err)
		}
		if other.Digest == s.Digest {
			t.Errorf("changing %v keeps digest %s", change, s.Digest)
		}
	}
	if none, err := load(set(nil)); none != nil || err != nil {
		t.Errorf("empty: %v, %v; want nothing embedded", none, err)
	}
	if none, err := load(nil); none != nil || err != nil {
		t.Errorf("nil: %v, %v; want nothing embedded", none, err)
	}
	if _, err := load(set(map[string]string{ToolchainFile: "go1.26.8", "stage1": "one"})); err == nil || !strings.Contains(err.Error(), "sysinit") {
		t.Errorf("missing sysinit: %v", err)
	}
}

// TestOptionalProgramsMatchManifest: the names a manifest's own: accepts
// are exactly the optional programs imgbuild carries.
func TestOptionalProgramsMatchManifest(t *testing.T) {
	var optional []string
	for _, p := range Programs {
		if p.Optional {
			optional = append(optional, p.Name)
			if _, ok := Lookup(p.Name); !ok {
				t.Errorf("Lookup(%q) finds nothing", p.Name)
			}
		} else if _, ok := Lookup(p.Name); ok {
			t.Errorf("Lookup(%q) finds a program every image carries", p.Name)
		}
	}
	if !slices.Equal(optional, manifest.OwnPrograms) {
		t.Errorf("optional programs %v, manifest.OwnPrograms %v", optional, manifest.OwnPrograms)
	}
}

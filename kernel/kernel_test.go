package kernel

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestFromDeb(t *testing.T) {
	k := testKernel(t)
	if !strings.HasSuffix(k.VmlinuzPath, "/boot/vmlinuz-"+k.Release) {
		t.Errorf("vmlinuz %s does not match release %s", k.VmlinuzPath, k.Release)
	}
	if filepath.Base(k.ModulesDir) != k.Release {
		t.Errorf("modules dir %s does not match release %s", k.ModulesDir, k.Release)
	}
	img, err := os.ReadFile(k.VmlinuzPath)
	if err != nil {
		t.Fatal(err)
	}
	// The x86 boot protocol header: "HdrS" at 0x202.
	if len(img) < 0x206 || !bytes.Equal(img[0x202:0x206], []byte("HdrS")) {
		t.Errorf("%s is not a bzImage", k.VmlinuzPath)
	}
	if _, err := os.Stat(filepath.Join(k.ModulesDir, "kernel")); err != nil {
		t.Errorf("modules dir has no kernel/: %v", err)
	}
}

// TestFromDebReusesCache unpacks into a fresh cache, leaves a mark in the
// tree, and checks that a second FromDeb keeps it (no second unpack).
func TestFromDebReusesCache(t *testing.T) {
	cache := t.TempDir()
	start := time.Now()
	k1, err := FromDeb(kernelDeb(t), cache)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("unpack into an empty cache: %v", time.Since(start))
	// An unpack writes new files: the cached vmlinuz staying the same
	// file says the cache was reused (a file added to the entry would
	// fail its SHA256SUMS check instead).
	first, err := os.Stat(k1.VmlinuzPath)
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	k2, err := FromDeb(kernelDeb(t), cache)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("FromDeb with the cache warm: %v", time.Since(start))
	if k1.ModulesDir != k2.ModulesDir || k1.VmlinuzPath != k2.VmlinuzPath {
		t.Errorf("second FromDeb gave other paths: %+v vs %+v", k1, k2)
	}
	if again, err := os.Stat(k2.VmlinuzPath); err != nil || !os.SameFile(first, again) {
		t.Error("second FromDeb unpacked again instead of reusing the cache")
	}
	entries, _ := os.ReadDir(filepath.Join(cache, "kernels"))
	if len(entries) != 1 {
		t.Errorf("cache holds %d entries, want 1 (temp dirs left behind?)", len(entries))
	}
}

func TestFromLocal(t *testing.T) {
	k := testKernel(t)
	l, err := FromLocal(k.VmlinuzPath, k.ModulesDir)
	if err != nil {
		t.Fatal(err)
	}
	if l.Release != k.Release {
		t.Errorf("release %q, want %q", l.Release, k.Release)
	}
	a, err := k.Closure([]string{"dm_verity"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := l.Closure([]string{"dm_verity"})
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != len(b) {
		t.Errorf("FromLocal closure %v differs from FromDeb's %v", b, a)
	}
	for _, tc := range [][2]string{
		{filepath.Join(t.TempDir(), "none"), k.ModulesDir},
		{k.VmlinuzPath, filepath.Join(t.TempDir(), "none")},
		{k.ModulesDir, k.ModulesDir},
	} {
		if _, err := FromLocal(tc[0], tc[1]); err == nil {
			t.Errorf("FromLocal(%s, %s) accepted a bad input", tc[0], tc[1])
		}
	}
}

// A cache directory is a path the user chose: glob characters in it must
// be taken literally, and look-alike siblings must not be found.
func TestLocateGlobCharsInPath(t *testing.T) {
	parent := t.TempDir()
	tree := func(dir, release string) {
		t.Helper()
		for _, p := range []string{filepath.Join(dir, "boot"), filepath.Join(dir, "lib", "modules", release)} {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, "boot", "vmlinuz-"+release), []byte("k"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	root := filepath.Join(parent, "[x]*")
	tree(root, "6.1.0-test")
	tree(filepath.Join(parent, "x"), "6.1.0-other")
	tree(filepath.Join(parent, "xy"), "6.1.0-other2")
	k, err := locate(root)
	if err != nil {
		t.Fatal(err)
	}
	if k.Release != "6.1.0-test" || k.VmlinuzPath != filepath.Join(root, "boot", "vmlinuz-6.1.0-test") {
		t.Errorf("locate = %+v, want release 6.1.0-test under %s", k, root)
	}
}

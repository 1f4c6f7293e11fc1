package gobuild

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A full Go build cache fails the build with the go command's own
// error, naming the full disk, and leaves no program behind; with room
// again the same build gives the bytes a build with the usual cache
// gives. (A cache that fills during the build is another matter: the go
// command carries on without writing it.)
func TestFullGoCache(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles the runtime without a cache (seconds)")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs")
	}
	full := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1M", "tmpfs", full).CombinedOutput(); err != nil {
		t.Skipf("mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", full).Run() })
	// Filled to the last byte before the build starts.
	if out, err := exec.Command("dd", "if=/dev/zero", "of="+filepath.Join(full, "fill"), "bs=64k").CombinedOutput(); err == nil {
		t.Fatalf("dd filled 1 MiB without running out of space: %s", out)
	}
	dir := t.TempDir()
	build := func(name, cache string) ([]byte, error) {
		t.Helper()
		t.Setenv("GOCACHE", cache)
		out := filepath.Join(dir, name)
		if err := Own(context.Background(), "../..", "amd64", "./build/gobuild/testdata/hello", out); err != nil {
			if _, statErr := os.Stat(out); statErr == nil {
				t.Errorf("GOCACHE %s: the failed build left %s", cache, out)
			}
			return nil, err
		}
		return os.ReadFile(out)
	}
	if _, err := build("full", full); err == nil || !strings.Contains(err.Error(), "no space left on device") || !strings.Contains(err.Error(), "testdata/hello") {
		t.Fatalf("built with a full Go cache: %v; want the go command's ENOSPC, naming the package", err)
	}
	if err := os.Remove(filepath.Join(full, "fill")); err != nil {
		t.Fatal(err)
	}
	got, err := build("room", full)
	if err != nil {
		t.Fatalf("with room again: %v", err)
	}
	cache, err := exec.Command("go", "env", "GOCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	want, err := build("usual", string(bytes.TrimSpace(cache)))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("built once the Go cache had room: %d bytes, not the usual build's %d", len(got), len(want))
	}
}

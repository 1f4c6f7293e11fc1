// Package reftool runs the reference tools we did not write (sgdisk,
// fsck.fat, mtools, unsquashfs, veritysetup, qemu-img) from tests, so
// that our writers are checked against an independent reader.
package reftool

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Run runs a reference tool and returns its combined output. A missing
// tool fails the test: CI installs them, and a skipped check proves
// nothing.
func Run(t testing.TB, name string, args ...string) (string, error) {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("reference tool %s not installed (CI must provide it): %v", name, err)
	}
	cmd := exec.Command(p, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	return out.String(), err
}

// Must is Run for calls that must succeed.
func Must(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := Run(t, name, args...)
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return out
}

// Extract copies n bytes at off of the file at path to a new temp file,
// for tools that want a whole file system in a file.
func Extract(t testing.TB, path string, off, n int64) string {
	t.Helper()
	src, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	b := make([]byte, n)
	if _, err := src.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "part.img")
	if err := os.WriteFile(out, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

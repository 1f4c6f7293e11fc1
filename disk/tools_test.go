package disk

import (
	"bytes"
	"os"
	"os/exec"
	"testing"
)

// runTool runs a reference tool we did not write. A missing tool fails
// the test: CI installs them, and a skipped check proves nothing.
func runTool(t *testing.T, name string, args ...string) (string, error) {
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

// mustTool is runTool for calls that must succeed.
func mustTool(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := runTool(t, name, args...)
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return out
}

// extract copies n bytes at off of the file at path to a new temp file,
// for tools that want a whole file system in a file.
func extract(t *testing.T, path string, off, n int64) string {
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
	out := t.TempDir() + "/part.img"
	if err := os.WriteFile(out, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

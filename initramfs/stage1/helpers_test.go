package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// testPart is a partition of the layout.md table with a fixed GUID.
type testPart struct {
	num              int
	size, typ, label string
	guid             string
}

var testLayout = []testPart{
	{1, "+8M", "C12A7328-F81F-11D2-BA4B-00A0C93EC93B", "EFI-SYSTEM", "0b5c1a7e-3f2d-4e8a-9c6b-1d2e3f4a5b01"},
	{3, "+16M", "5DFBF5F4-2848-4BAC-AA5E-0D9A20B745A6", "USR-A", "0b5c1a7e-3f2d-4e8a-9c6b-1d2e3f4a5b03"},
	{4, "+16M", "5DFBF5F4-2848-4BAC-AA5E-0D9A20B745A6", "USR-B", "0b5c1a7e-3f2d-4e8a-9c6b-1d2e3f4a5b04"},
	{6, "+4M", "0FC63DAF-8483-4772-8E79-3D69D8477DE4", "OEM", "0b5c1a7e-3f2d-4e8a-9c6b-1d2e3f4a5b06"},
	{9, "+8M", "3884DD41-8582-4404-B9A8-E9B84F2DF50E", "ROOT", "0b5c1a7e-3f2d-4e8a-9c6b-1d2e3f4a5b09"},
}

const (
	testUSR  = "0b5c1a7e-3f2d-4e8a-9c6b-1d2e3f4a5b03"
	testRoot = "0b5c1a7e-3f2d-4e8a-9c6b-1d2e3f4a5b09"
)

func runTool(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return string(out)
}

// makeTestDisk writes testLayout with sgdisk into a sparse file at path.
func makeTestDisk(t *testing.T, path string, size int64) {
	t.Helper()
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
	args := []string{"-o", "-U", "6b1f5c2e-0d3a-4c55-9e1a-2b8f4a7c9d01"}
	for _, p := range testLayout {
		n := strconv.Itoa(p.num)
		args = append(args, "-n", n+":0:"+p.size, "-t", n+":"+p.typ, "-c", n+":"+p.label, "-u", n+":"+p.guid)
	}
	runTool(t, "sgdisk", append(args, path)...)
}

func tempPath(t *testing.T, name string) string {
	return filepath.Join(t.TempDir(), name)
}

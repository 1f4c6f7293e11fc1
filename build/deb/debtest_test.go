package deb

import (
	"archive/tar"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// mustRun runs a reference tool; a missing tool fails the test, so CI
// notices when it lacks one.
func mustRun(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Fatalf("reference tool %s is not installed: %v", name, err)
	}
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// buildDeb packs tree into a .deb with GNU tar, the given compressor
// ("" for none) and ar: the tools dpkg-deb itself trusts.
func buildDeb(t *testing.T, tree, compressor string) string {
	t.Helper()
	work := t.TempDir()
	mustRun(t, work, "tar", "--owner=0", "--group=0", "--sort=name", "-cf", "data.tar", "-C", tree, ".")
	data := "data.tar"
	switch compressor {
	case "xz":
		mustRun(t, work, "xz", "data.tar")
		data += ".xz"
	case "zstd":
		mustRun(t, work, "zstd", "-q", "--rm", "data.tar")
		data += ".zst"
	case "gzip":
		mustRun(t, work, "gzip", "data.tar")
		data += ".gz"
	}
	if err := os.WriteFile(filepath.Join(work, "debian-binary"), []byte("2.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, work, "tar", "-cf", "control.tar", "-T", "/dev/null")
	mustRun(t, work, "xz", "control.tar")
	mustRun(t, work, "ar", "rc", "test.deb", "debian-binary", "control.tar.xz", data)
	return filepath.Join(work, "test.deb")
}

// rawDeb wraps a tar built in Go into a .deb with our own ar writing, for
// archives no honest tool would make (path escapes).
func rawDeb(t *testing.T, entries []tar.Header) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "raw.deb")
	if err := os.WriteFile(p, debBytes("data.tar", tarBytes(t, entries)), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// tarBytes is a tar of entries, each regular file holding its own name.
func tarBytes(t testing.TB, entries []tar.Header) []byte {
	t.Helper()
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	for _, h := range entries {
		h := h
		body := []byte(h.Name)
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(body))
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write(body)
		}
	}
	tw.Close()
	return tb.Bytes()
}

// debBytes is an ar archive of debian-binary and the data member.
func debBytes(dataName string, data []byte) []byte {
	var ab bytes.Buffer
	ab.WriteString(arMagic)
	member := func(name string, data []byte) {
		fmt.Fprintf(&ab, "%-16s%-12d%-6d%-6d%-8s%-10d`\n", name+"/", 0, 0, 0, "100644", len(data))
		ab.Write(data)
		if len(data)%2 == 1 {
			ab.WriteByte('\n')
		}
	}
	member("debian-binary", []byte("2.0\n"))
	member(dataName, data)
	return ab.Bytes()
}

// sampleTree makes a small tree with the entry kinds packages carry.
func sampleTree(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"usr/bin", "usr/share/doc/x", "etc", "ro"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(name, body string, mode os.FileMode) {
		p := filepath.Join(root, name)
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode)
	}
	write("usr/bin/tool", "#!/bin/sh\necho tool\n", 0o755)
	write("usr/bin/suid", "x", 0o4755)
	write("usr/share/doc/x/copyright", strings.Repeat("free software\n", 1000), 0o644)
	write("etc/odd", "odd-sized", 0o600)
	write("ro/file", "in a read-only dir", 0o444)
	os.Symlink("tool", filepath.Join(root, "usr/bin/rel-link"))
	os.Symlink("/usr/bin/tool", filepath.Join(root, "usr/bin/abs-link"))
	os.Link(filepath.Join(root, "usr/bin/tool"), filepath.Join(root, "usr/bin/hard"))
	os.Chmod(filepath.Join(root, "ro"), 0o555)
	t.Cleanup(func() { os.Chmod(filepath.Join(root, "ro"), 0o755) })
	return root
}

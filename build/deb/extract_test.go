package deb

import (
	"archive/tar"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestExtractMatchesTar extracts with our code and with GNU tar from
// dpkg-deb --fsys-tarfile, then compares the trees (type, mode, content,
// link targets, hard links).
func TestExtractMatchesTar(t *testing.T) {
	deb := buildDeb(t, sampleTree(t), "xz")
	ours, theirs := t.TempDir(), t.TempDir()
	if err := Extract(deb, ours); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "", "sh", "-c", `dpkg-deb --fsys-tarfile "$1" | tar -xpf - -C "$2"`, "sh", deb, theirs)
	want := snapshot(t, theirs)
	got := snapshot(t, ours)
	if len(want) == 0 {
		t.Fatal("reference extraction is empty")
	}
	for name, w := range want {
		if g, ok := got[name]; !ok {
			t.Errorf("%s: missing", name)
		} else if g != w {
			t.Errorf("%s: got %s, want %s", name, g, w)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s: extra", name)
		}
	}
	a, _ := os.Stat(filepath.Join(ours, "usr/bin/tool"))
	b, _ := os.Stat(filepath.Join(ours, "usr/bin/hard"))
	if !os.SameFile(a, b) {
		t.Error("hard link was not kept as a hard link")
	}
}

// snapshot describes every path under root; directories are compared
// without the owner-write bit Extract keeps on purpose.
func snapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		mode := fi.Mode()
		desc := mode.Type().String()
		switch {
		case mode.IsDir():
			desc += (mode.Perm() | 0o200).String()
		case mode&os.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			desc += " -> " + target
		default:
			body, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			desc += (mode & (os.ModePerm | os.ModeSetuid | os.ModeSetgid)).String() + " " + string(body)
			desc += " mtime=" + fi.ModTime().UTC().String()
		}
		m[rel] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestExtractRejectsEscapes(t *testing.T) {
	reg := func(name string) tar.Header {
		return tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644}
	}
	tests := []struct {
		name    string
		entries []tar.Header
		unsafe  bool // the error must wrap ErrUnsafePath
	}{
		{"dot-dot", []tar.Header{reg("./../evil")}, true},
		{"deep dot-dot", []tar.Header{reg("./a/../../evil")}, true},
		{"absolute", []tar.Header{reg("/evil")}, true},
		{"hard link out", []tar.Header{{Name: "./h", Typeflag: tar.TypeLink, Linkname: "../../etc/passwd"}}, true},
		{"through absolute symlink", []tar.Header{
			{Name: "./lnk", Typeflag: tar.TypeSymlink, Linkname: "/tmp"},
			reg("./lnk/evil"),
		}, false},
		{"through relative symlink", []tar.Header{
			{Name: "./lnk", Typeflag: tar.TypeSymlink, Linkname: "../.."},
			reg("./lnk/evil"),
		}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			deb := rawDeb(t, tc.entries)
			parent := t.TempDir()
			dir := filepath.Join(parent, "a", "b")
			err := Extract(deb, dir)
			if err == nil {
				t.Fatal("Extract accepted an escaping entry")
			}
			if tc.unsafe && !errors.Is(err, ErrUnsafePath) {
				t.Errorf("error %v does not wrap ErrUnsafePath", err)
			}
			for _, p := range []string{"/evil", "/tmp/evil", filepath.Join(parent, "evil"), filepath.Join(parent, "a", "evil")} {
				if _, err := os.Lstat(p); err == nil {
					t.Errorf("%s was written outside the target", p)
				}
			}
		})
	}
}

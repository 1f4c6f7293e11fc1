package fsutil

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// onlyNames lists dir, so a test sees a temporary file left behind.
func onlyNames(t *testing.T, dir string) string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return strings.Join(names, " ")
}

func TestWriteFileReplaces(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "resolv.conf")
	// A dangling symlink, as a factory /etc/resolv.conf can be, is
	// replaced by the file rather than written through.
	if err := os.Symlink("../run/gone", p); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(p, []byte("nameserver 10.0.2.3\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	st, err := os.Lstat(p)
	if err != nil || !st.Mode().IsRegular() || st.Mode().Perm() != 0o640 {
		t.Fatalf("after WriteFile: %v, %v; want a regular file, mode 0640", st.Mode(), err)
	}
	if b, _ := os.ReadFile(p); string(b) != "nameserver 10.0.2.3\n" {
		t.Errorf("content %q", b)
	}
	if got := onlyNames(t, dir); got != "resolv.conf" {
		t.Errorf("directory holds %q, want only resolv.conf", got)
	}
}

func TestWriteFailureKeepsOld(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "disk.img")
	if err := os.WriteFile(p, []byte("good"), 0o644); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := Write(p, 0o644, func(f *os.File) error {
		f.Write([]byte("half"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want fill's error", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "good" {
		t.Errorf("old content %q replaced by a failed write", b)
	}
	if got := onlyNames(t, dir); got != "disk.img" {
		t.Errorf("directory holds %q, want only disk.img", got)
	}
}

func TestWriteModeAfterFill(t *testing.T) {
	p := filepath.Join(t.TempDir(), "suid")
	err := Write(p, 0o755|os.ModeSetuid, func(f *os.File) error {
		_, err := f.Write([]byte("#!/bin/sh\n"))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(p); st.Mode() != 0o755|os.ModeSetuid {
		t.Errorf("mode %v, want setuid 0755", st.Mode())
	}
}

func TestMakeDir(t *testing.T) {
	parent := filepath.Join(t.TempDir(), "cache", "kernels")
	dir := filepath.Join(parent, "abc")
	raced, err := MakeDir(dir, func(tmp string) error {
		return os.WriteFile(filepath.Join(tmp, "vmlinuz"), []byte("k"), 0o644)
	})
	if err != nil || raced {
		t.Fatalf("MakeDir: raced %v, err %v", raced, err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "vmlinuz")); string(b) != "k" {
		t.Errorf("vmlinuz = %q", b)
	}
	// A failed fill leaves nothing, not even the temporary directory.
	other := filepath.Join(parent, "def")
	if _, err := MakeDir(other, func(tmp string) error { return errors.New("unpack failed") }); err == nil {
		t.Fatal("fill's error was dropped")
	}
	if got := onlyNames(t, parent); got != "abc" {
		t.Errorf("parent holds %q, want only abc", got)
	}
}

func TestMakeDirRace(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "entry")
	raced, err := MakeDir(dir, func(tmp string) error {
		// Another build finishes the same entry while this one fills.
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "out"), []byte("theirs"), 0o644); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(tmp, "out"), []byte("ours"), 0o644)
	})
	if err != nil || !raced {
		t.Fatalf("raced %v, err %v; want the other build's entry kept", raced, err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "out")); string(b) != "theirs" {
		t.Errorf("entry = %q, want theirs", b)
	}
	if got := onlyNames(t, filepath.Dir(dir)); got != "entry" {
		t.Errorf("parent holds %q, want only entry", got)
	}
}

func TestFileSHA256(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte("abc"), 0o644); err != nil {
		t.Fatal(err)
	}
	sum, n, err := FileSHA256(p)
	// sha256("abc") from FIPS 180-2, appendix B.1.
	if err != nil || n != 3 || sum != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Errorf("FileSHA256 = %s, %d, %v", sum, n, err)
	}
	if _, _, err := FileSHA256(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("missing file: no error")
	}
}

func TestMatchTakesDirLiterally(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "[x]*")
	for _, d := range []string{dir, filepath.Join(parent, "x")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, n := range []string{"a.deb", "b.txt"} {
			if err := os.WriteFile(filepath.Join(d, n), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	got, err := Match(dir, "*.deb")
	if err != nil || len(got) != 1 || got[0] != filepath.Join(dir, "a.deb") {
		t.Errorf("Match = %q, %v; want only %s", got, err, filepath.Join(dir, "a.deb"))
	}
	if _, err := Match(dir, "[bad"); err == nil {
		t.Error("bad pattern: no error")
	}
	if _, err := Match(filepath.Join(parent, "none"), "*"); err == nil {
		t.Error("missing dir: no error")
	}
}

func TestWriteOwnerBeforeMode(t *testing.T) {
	p := filepath.Join(t.TempDir(), "setgid")
	// Our own ids: chown without privileges; the setgid bit must survive
	// it, so the mode is set after the owner.
	err := WriteFile(p, []byte("x"), 0o750|os.ModeSetgid, Owner(os.Getuid(), os.Getgid()))
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(p); st.Mode() != 0o750|os.ModeSetgid {
		t.Errorf("mode %v, want setgid 0750", st.Mode())
	}
	if os.Getuid() != 0 {
		if err := WriteFile(p, []byte("y"), 0o644, Owner(os.Getuid()+1, -1)); err == nil {
			t.Error("chown to another user without privileges: no error")
		}
		if b, _ := os.ReadFile(p); string(b) != "x" {
			t.Errorf("content %q after a failed write, want the old x", b)
		}
	}
	if got := onlyNames(t, filepath.Dir(p)); got != "setgid" {
		t.Errorf("directory holds %q, want only setgid", got)
	}
}

func TestStageCommitDiscard(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(a, []byte("old"), 0o644))
	pa, err := Stage(a, 0o600, func(f *os.File) error { _, err := f.Write([]byte("new")); return err })
	must(err)
	pb, err := Stage(b, 0o644, func(f *os.File) error { return nil })
	must(err)
	// Staged, not in place: a reader still sees the old a and no b.
	if got, _ := os.ReadFile(a); string(got) != "old" {
		t.Errorf("a = %q before Commit", got)
	}
	// A hard link to the staged file is a link to the committed one.
	must(os.Link(pa.TempName(), filepath.Join(dir, "link")))
	must(pa.Commit())
	must(pb.Discard())
	if got, _ := os.ReadFile(filepath.Join(dir, "link")); string(got) != "new" {
		t.Errorf("link = %q", got)
	}
	if st, _ := os.Stat(a); st.Mode() != 0o600 {
		t.Errorf("a mode %v", st.Mode())
	}
	if got := onlyNames(t, dir); got != "a link" {
		t.Errorf("directory holds %q, want a link", got)
	}
}

func TestSyncDir(t *testing.T) {
	if err := SyncDir(t.TempDir()); err != nil {
		t.Errorf("SyncDir: %v", err)
	}
	if err := SyncDir(filepath.Join(t.TempDir(), "gone")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing dir: %v", err)
	}
}

// A killed build's half-filled cache entry goes at the next MakeDir in
// the same directory; a live one (locked) and a young one (perhaps an
// older imgbuild's, which took no lock) stay, as does everything else.
func TestMakeDirSweepsDeadTemps(t *testing.T) {
	parent := t.TempDir()
	old := time.Now().Add(-time.Hour)
	mk := func(name string, age time.Time) string {
		p := filepath.Join(parent, name)
		if err := os.MkdirAll(filepath.Join(p, "half"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, age, age); err != nil {
			t.Fatal(err)
		}
		return p
	}
	dead := mk(".a.tmp111", old)
	live := mk(".b.tmp222", old)
	young := mk(".c.tmp333", time.Now())
	entry := mk("d.tmpish", old)
	f, err := os.Open(live)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	if _, err := MakeDir(filepath.Join(parent, "e"), func(tmp string) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dead); !os.IsNotExist(err) {
		t.Errorf("the dead temporary directory is still there (%v)", err)
	}
	for _, p := range []string{live, young, entry, filepath.Join(parent, "e")} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s: %v, want it kept", filepath.Base(p), err)
		}
	}
}

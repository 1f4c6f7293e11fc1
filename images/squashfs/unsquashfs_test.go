package squashfs

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

var testModTime = time.Date(2023, 1, 2, 3, 4, 5, 0, time.UTC)

// writeImage writes entries to a file in a temporary directory.
func writeImage(t *testing.T, entries []Entry, opt Options) (string, int64) {
	t.Helper()
	img := filepath.Join(t.TempDir(), "img.sqfs")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	size, err := Write(f, 0, entries, opt)
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() != size || size%4096 != 0 {
		t.Fatalf("file size %d, Write returned %d; want equal and a multiple of 4096", st.Size(), size)
	}
	return img, size
}

// run runs a reference tool and fails clearly when it is missing.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found: install squashfs-tools (this test checks our images with the reference reader)", name)
	}
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), "TZ=UTC")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestUnsquashfsRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  Options
		comp string
	}{
		{"zstd", Options{Compression: ZSTD, Level: 19}, "zstd"},
		{"xz", Options{Compression: XZ}, "xz"},
		{"gzip", Options{Compression: GZIP}, "gzip"},
		{"zstd-4k-blocks", Options{Compression: ZSTD, Level: 3, BlockSize: 4096}, "zstd"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opt := tc.opt
			opt.ModTime = testModTime
			opt.Workers = 3
			if opt.BlockSize == 0 {
				opt.BlockSize = DefaultBlockSize
			}
			files := testTree(opt.BlockSize)
			img, _ := writeImage(t, entriesOf(files), opt)
			checkSuperblock(t, img, tc.comp, opt)
			out := filepath.Join(t.TempDir(), "out")
			run(t, "unsquashfs", "-d", out, "-n", "-q", img)
			checkExtracted(t, out, files)
			checkListing(t, img, files)
		})
	}
}

// checkSuperblock checks what unsquashfs -s reports.
func checkSuperblock(t *testing.T, img, comp string, opt Options) {
	t.Helper()
	s := run(t, "unsquashfs", "-s", img)
	for _, want := range []string{
		"Found a valid SQUASHFS 4:0 superblock",
		"Compression " + comp,
		fmt.Sprintf("Block size %d", opt.BlockSize),
		"Xattrs are not stored",
		"Creation or last append time Mon Jan  2 03:04:05 2023",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("unsquashfs -s lacks %q:\n%s", want, s)
		}
	}
	if got := strings.TrimSpace(run(t, "unsquashfs", "-mkfs-time", img)); got != strconv.FormatInt(testModTime.Unix(), 10) {
		t.Errorf("mkfs time %s, want %d", got, testModTime.Unix())
	}
}

// expected returns what a path should look like: the explicit entry, or
// an implied directory.
func expected(files []testFile) map[string]testFile {
	m := map[string]testFile{}
	for _, f := range files {
		p := f.entry.Path
		for d := p; d != ""; {
			d = filepath.Dir(d)
			if d == "." {
				d = ""
			}
			if _, ok := m[d]; !ok {
				m[d] = testFile{entry: Entry{Path: d, Mode: fs.ModeDir | 0o755, ModTime: testModTime}}
			}
		}
		m[p] = f
	}
	return m
}

func checkExtracted(t *testing.T, out string, files []testFile) {
	t.Helper()
	want := expected(files)
	seen := map[string]bool{}
	root := os.Geteuid() == 0
	err := filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(out, p)
		if rel == "." {
			rel = ""
		}
		seen[rel] = true
		w, ok := want[rel]
		if !ok {
			t.Errorf("extracted %q, which was not written", rel)
			return nil
		}
		st, err := os.Lstat(p)
		if err != nil {
			return err
		}
		sys := st.Sys().(*syscall.Stat_t)
		e := w.entry
		if st.Mode() != e.Mode && !(e.Mode.IsRegular() && st.Mode().IsRegular() && st.Mode() == e.Mode) {
			t.Errorf("%q: mode %v, want %v", rel, st.Mode(), e.Mode)
		}
		if root && (sys.Uid != e.UID || sys.Gid != e.GID) {
			t.Errorf("%q: owner %d:%d, want %d:%d", rel, sys.Uid, sys.Gid, e.UID, e.GID)
		}
		mt := e.ModTime
		if mt.IsZero() {
			mt = testModTime
		}
		if !st.ModTime().Equal(mt) {
			t.Errorf("%q: mtime %v, want %v", rel, st.ModTime().UTC(), mt)
		}
		switch {
		case e.Mode&fs.ModeSymlink != 0:
			if got, _ := os.Readlink(p); got != e.Target {
				t.Errorf("%q: target %q, want %q", rel, got, e.Target)
			}
		case e.Mode.IsRegular():
			got, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if sha256.Sum256(got) != sha256.Sum256(w.content) || int64(len(got)) != e.Size {
				t.Errorf("%q: content differs (%d bytes, want %d)", rel, len(got), e.Size)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for p := range want {
		if !seen[p] {
			t.Errorf("%q missing from the extracted tree", p)
		}
	}
}

// lsMode renders a mode as ls -l does.
func lsMode(m fs.FileMode) string {
	b := []byte("-rwxrwxrwx")
	switch {
	case m.IsDir():
		b[0] = 'd'
	case m&fs.ModeSymlink != 0:
		b[0] = 'l'
	}
	for i := range 9 {
		if m&(1<<(8-i)) == 0 {
			b[i+1] = '-'
		}
	}
	special := func(bit fs.FileMode, pos int, set, unset byte) {
		if m&bit != 0 {
			if b[pos] == 'x' {
				b[pos] = set
			} else {
				b[pos] = unset
			}
		}
	}
	special(fs.ModeSetuid, 3, 's', 'S')
	special(fs.ModeSetgid, 6, 's', 'S')
	special(fs.ModeSticky, 9, 't', 'T')
	return string(b)
}

var lsLine = regexp.MustCompile(`^(\S{10}) (\d+)/(\d+) +(\d+) (\d{4}-\d\d-\d\d \d\d:\d\d) squashfs-root(\S*)(?: -> (.*))?$`)

// checkListing checks owners, modes, sizes, minutes and symlink targets
// in unsquashfs -lln, which does not depend on extracting as root.
func checkListing(t *testing.T, img string, files []testFile) {
	t.Helper()
	want := expected(files)
	out := run(t, "unsquashfs", "-lln", "-UTC", img)
	n := 0
	sc := bufio.NewScanner(bytes.NewReader([]byte(out)))
	for sc.Scan() {
		m := lsLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		n++
		rel := strings.TrimPrefix(m[6], "/")
		w, ok := want[rel]
		if !ok {
			t.Errorf("listing has %q, which was not written", rel)
			continue
		}
		e := w.entry
		mt := e.ModTime
		if mt.IsZero() {
			mt = testModTime
		}
		got := fmt.Sprintf("%s %s/%s %s %s", m[1], m[2], m[3], m[5], m[7])
		wantLine := fmt.Sprintf("%s %d/%d %s %s", lsMode(e.Mode), e.UID, e.GID, mt.UTC().Format("2006-01-02 15:04"), e.Target)
		if got != wantLine {
			t.Errorf("%q: listed %q, want %q", rel, got, wantLine)
		}
		if e.Mode.IsRegular() && m[4] != strconv.FormatInt(e.Size, 10) {
			t.Errorf("%q: listed size %s, want %d", rel, m[4], e.Size)
		}
	}
	if n != len(want) {
		t.Errorf("listing has %d entries, want %d:\n%s", n, len(want), out)
	}
}

package squashfs

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// memWriterAt is an in-memory io.WriterAt.
type memWriterAt struct{ b []byte }

func (m *memWriterAt) WriteAt(p []byte, off int64) (int, error) {
	if end := int(off) + len(p); end > len(m.b) {
		m.b = append(m.b, make([]byte, end-len(m.b))...)
	}
	return copy(m.b[off:], p), nil
}

func writeMem(t *testing.T, entries []Entry, off int64, opt Options) []byte {
	t.Helper()
	var m memWriterAt
	size, err := Write(&m, off, entries, opt)
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	if int64(len(m.b)) != off+size {
		t.Fatalf("wrote %d bytes at %d, Write returned size %d", len(m.b)-int(off), off, size)
	}
	return m.b[off:]
}

func TestDeterministic(t *testing.T) {
	for _, c := range []Compression{ZSTD, XZ, GZIP} {
		t.Run(c.String(), func(t *testing.T) {
			entries := entriesOf(testTree(DefaultBlockSize))
			opt := Options{Compression: c, ModTime: testModTime, Workers: 1}
			ref := writeMem(t, entries, 0, opt)
			shuffled := append([]Entry(nil), entries...)
			rand.New(rand.NewPCG(3, 4)).Shuffle(len(shuffled), func(i, j int) {
				shuffled[i], shuffled[j] = shuffled[j], shuffled[i]
			})
			opt.Workers = 4
			if got := writeMem(t, shuffled, 0, opt); !bytes.Equal(got, ref) {
				t.Errorf("shuffled input with 4 workers: %d bytes differ from 1 worker in order (%d bytes)", len(got), len(ref))
			}
			if got := writeMem(t, entries, 12345, opt); !bytes.Equal(got, ref) {
				t.Errorf("image written at an offset differs")
			}
		})
	}
}

// failingReader returns an error after some bytes.
type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, errors.New("disk on fire")
	}
	k := min(len(p), f.n)
	f.n -= k
	return k, nil
}

func (f *failingReader) Close() error { return nil }

func TestWriteErrors(t *testing.T) {
	content := func(n int) func() (io.ReadCloser, error) {
		return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(make([]byte, n))), nil }
	}
	file := func(p string, size int64, n int) Entry {
		return Entry{Path: p, Mode: 0o644, Size: size, Open: content(n)}
	}
	for _, tc := range []struct {
		name    string
		entries []Entry
		opt     Options
		want    string
	}{
		{"duplicate", []Entry{file("etc/a", 1, 1), file("etc/a", 1, 1)}, Options{}, `duplicate path "etc/a"`},
		{"duplicate root", []Entry{{Path: "", Mode: fs.ModeDir}, {Path: ".", Mode: fs.ModeDir}}, Options{}, `duplicate path "."`},
		{"escape", []Entry{file("../x", 1, 1)}, Options{}, `"../x": escapes the root`},
		{"escape inside", []Entry{file("a/../../x", 1, 1)}, Options{}, `"a/../../x": not clean`},
		{"absolute", []Entry{file("/etc/x", 1, 1)}, Options{}, `"/etc/x": must be relative`},
		{"short content", []Entry{file("bin/x", 300000, 200000)}, Options{}, `"bin/x": content ended after 200000 bytes, but Size is 300000`},
		{"short tail", []Entry{file("bin/x", 1000, 10)}, Options{}, `"bin/x": content ended after 10 bytes, but Size is 1000`},
		{"long content", []Entry{file("bin/x", 10, 11)}, Options{}, `"bin/x": content is longer than Size 10`},
		{"read error", []Entry{{Path: "x", Mode: 0o644, Size: 100,
			Open: func() (io.ReadCloser, error) { return &failingReader{n: 5}, nil }}}, Options{}, `read "x": disk on fire`},
		{"open error", []Entry{{Path: "x", Mode: 0o644, Size: 100,
			Open: func() (io.ReadCloser, error) { return nil, fs.ErrPermission }}}, Options{}, `open "x": permission denied`},
		{"file as parent", []Entry{file("a", 1, 1), file("a/b", 1, 1)}, Options{}, `"a" is a parent of "a/b" but not a directory`},
		{"file as parent later", []Entry{file("a/b", 1, 1), file("a", 1, 1)}, Options{}, `"a" is a parent of other entries`},
		{"symlink without target", []Entry{{Path: "l", Mode: fs.ModeSymlink}}, Options{}, `symlink "l": empty target`},
		{"socket", []Entry{{Path: "s", Mode: fs.ModeSocket}}, Options{}, `unsupported file type`},
		{"long name", []Entry{file(strings.Repeat("n", 257), 1, 1)}, Options{}, `longer than 256 bytes`},
		{"block size", nil, Options{BlockSize: 3000}, `block size 3000`},
		{"zstd level", nil, Options{Level: 23}, `zstd level 23`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, workers := range []int{1, 3} {
				tc.opt.Workers = workers
				_, err := Write(&memWriterAt{}, 0, tc.entries, tc.opt)
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("workers %d: error %v, want one containing %q", workers, err, tc.want)
				}
			}
		})
	}
}

// TestEmptyImage checks the smallest image: a root directory alone.
func TestEmptyImage(t *testing.T) {
	img, size := writeImage(t, nil, Options{ModTime: testModTime})
	if size != 4096 {
		t.Errorf("empty image is %d bytes, want 4096", size)
	}
	out := filepath.Join(t.TempDir(), "out")
	run(t, "unsquashfs", "-d", out, "-n", "-q", img)
	ents, err := os.ReadDir(out)
	if err != nil || len(ents) != 0 {
		t.Errorf("extracted root: %v, %v; want empty", ents, err)
	}
}

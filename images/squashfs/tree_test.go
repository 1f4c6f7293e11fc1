package squashfs

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"time"
)

// testFile is what a test expects to find at a path after extraction.
type testFile struct {
	entry   Entry
	content []byte
}

func memEntry(p string, mode fs.FileMode, uid, gid uint32, mtime time.Time, content []byte) Entry {
	return Entry{Path: p, Mode: mode, UID: uid, GID: gid, ModTime: mtime, Size: int64(len(content)),
		Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(content)), nil }}
}

// randomBytes returns n incompressible bytes from a seeded generator.
func randomBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// textBytes returns n compressible bytes: words from a small vocabulary.
func textBytes(r *rand.Rand, n int) []byte {
	words := []string{"squashfs", "block", "inode", "kernel", "verity", "usr", "boot", "image", "\n", "the", "a"}
	var b bytes.Buffer
	for b.Len() < n {
		b.WriteString(words[r.IntN(len(words))])
		b.WriteByte(' ')
	}
	return b.Bytes()[:n]
}

// testTree builds the acceptance tree: multi-block files with a tail,
// small files sharing fragments, an empty file, a sparse block, a
// directory large enough for a directory index, nested and implied
// directories, symlinks, special mode bits, owners and distinct mtimes.
func testTree(bs int) []testFile {
	r := rand.New(rand.NewPCG(1, 2))
	t0 := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * 61 * time.Second) }
	var big []byte
	big = append(big, randomBytes(r, bs)...)
	big = append(big, textBytes(r, bs)...)
	big = append(big, make([]byte, bs)...) // sparse block
	big = append(big, textBytes(r, bs/4)...)
	big = append(big, randomBytes(r, bs/4)...)
	files := []testFile{
		{entry: Entry{Path: "", Mode: fs.ModeDir | 0o755, ModTime: at(1)}},
		{entry: Entry{Path: "bin", Mode: fs.ModeDir | 0o755, ModTime: at(2)}},
		{entry: memEntry("bin/busybox", 0o755, 0, 0, at(3), big), content: big},
		{entry: Entry{Path: "bin/sh", Mode: fs.ModeSymlink | 0o777, ModTime: at(4), Target: "busybox"}},
		{entry: memEntry("bin/su", fs.ModeSetuid|0o755, 0, 0, at(5), textBytes(r, 3000)), content: nil},
		{entry: memEntry("bin/wall", fs.ModeSetgid|0o755, 0, 5, at(6), textBytes(r, 100)), content: nil},
		{entry: Entry{Path: "tmp", Mode: fs.ModeDir | fs.ModeSticky | 0o777, ModTime: at(7)}},
		{entry: memEntry("home/user/.profile", 0o644, 1000, 1000, at(8), []byte("export PS1='$ '\n")), content: nil},
		{entry: Entry{Path: "home/user", Mode: fs.ModeDir | 0o700, UID: 1000, GID: 1000, ModTime: at(9)}},
		{entry: memEntry("empty", 0o600, 65534, 65534, at(10), nil), content: nil},
		{entry: Entry{Path: "lib/libc.so", Mode: fs.ModeSymlink | 0o777, ModTime: at(11), Target: "/usr/lib/x86_64-linux-gnu/libc.so.6"}},
		{entry: memEntry("a/b/c/d/deep", 0o444, 7, 8, at(12), textBytes(r, 2*bs)), content: nil},
		{entry: Entry{Path: "emptydir", Mode: fs.ModeDir | 0o750, UID: 3, GID: 4, ModTime: at(13)}},
	}
	for i := range 40 { // tails of many sizes share fragment blocks
		content := textBytes(r, r.IntN(9000))
		if i%3 == 0 {
			content = randomBytes(r, r.IntN(5000))
		}
		files = append(files, testFile{entry: memEntry(fmt.Sprintf("etc/small%02d", i), 0o644, 0, 0, at(20+i), content)})
	}
	for i := range 700 { // > 256 entries and a listing over several metadata blocks
		name := fmt.Sprintf("many/entry-with-a-longish-name-%04d", i)
		switch i % 7 {
		case 3:
			files = append(files, testFile{entry: Entry{Path: name, Mode: fs.ModeSymlink | 0o777, ModTime: at(100 + i), Target: fmt.Sprintf("target-%d", i)}})
		case 5:
			files = append(files, testFile{entry: Entry{Path: name, Mode: fs.ModeDir | 0o755, ModTime: at(100 + i)}})
		default:
			files = append(files, testFile{entry: memEntry(name, 0o644, uint32(i%3), uint32(i%4), at(100+i), textBytes(r, i*13))})
		}
	}
	for i := range files { // fill content from the entry for the checks
		if files[i].entry.Mode.IsRegular() && files[i].content == nil && files[i].entry.Size > 0 {
			rc, _ := files[i].entry.Open()
			files[i].content, _ = io.ReadAll(rc)
		}
	}
	return files
}

func entriesOf(files []testFile) []Entry {
	var es []Entry
	for _, f := range files {
		es = append(es, f.entry)
	}
	return es
}

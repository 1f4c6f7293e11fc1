package squashfs

import (
	"math/rand/v2"
	"path/filepath"
	"testing"
)

// TestDedup writes identical files (with full blocks and a tail, and a
// tail alone) beside a same-size file of other content: unsquashfs reads
// every one back intact, and the duplicates cost no data, so the image
// is as large as one without them, give or take metadata.
func TestDedup(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	bs := DefaultBlockSize
	big := randomBytes(r, 2*bs+1000)
	other := randomBytes(r, len(big))
	small := randomBytes(r, 3000)
	file := func(p string, b []byte) testFile {
		return testFile{entry: memEntry(p, 0o644, 0, 0, testModTime, b), content: b}
	}
	base := []testFile{file("a/big", big), file("a/other", other), file("a/small", small)}
	dups := append(base[:3:3], file("b/big", big), file("c/big", big), file("b/small", small))
	opt := Options{Compression: ZSTD, Level: 3, ModTime: testModTime, Workers: 2}
	img, size := writeImage(t, entriesOf(dups), opt)
	out := filepath.Join(t.TempDir(), "out")
	run(t, "unsquashfs", "-d", out, "-n", "-q", img)
	checkExtracted(t, out, dups)
	checkListing(t, img, dups)
	_, baseSize := writeImage(t, entriesOf(base), opt)
	if size != baseSize {
		t.Errorf("image with three duplicates is %d bytes, without them %d: duplicates were stored again", size, baseSize)
	}
	// Without dedup the copies would add their incompressible bytes.
	if extra := 2*len(big) + len(small); int(size) >= int(baseSize)+extra {
		t.Errorf("size %d: duplicates stored", size)
	}
}

// TestDedupDeterministic: the first file in tree order keeps the data, so
// the image does not depend on entry order.
func TestDedupDeterministic(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	b := randomBytes(r, 200000)
	es := []Entry{memEntry("x/one", 0o644, 0, 0, testModTime, b), memEntry("y/two", 0o644, 0, 0, testModTime, b),
		memEntry("z", 0o644, 0, 0, testModTime, b[:1000])}
	opt := Options{ModTime: testModTime, Workers: 3}
	want := writeMem(t, es, 0, opt)
	es[0], es[1], es[2] = es[2], es[0], es[1]
	if got := writeMem(t, es, 0, opt); string(got) != string(want) {
		t.Error("entry order changed the image")
	}
}

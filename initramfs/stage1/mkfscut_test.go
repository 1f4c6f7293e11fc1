package main

import (
	"os"
	"os/exec"
	"testing"

	"github.com/google/uuid"
)

// A power cut at every write of the first-boot format: the ext4 magic is
// on the partition only once the filesystem is whole (e2fsck clean), so
// the next boot's prepareRoot either keeps a whole filesystem or, seeing
// no magic, formats again, and that one is clean too.
func TestMkfsExt4PowerCut(t *testing.T) {
	if _, err := exec.LookPath("e2fsck"); err != nil {
		t.Fatal("e2fsck (e2fsprogs) is needed for this test")
	}
	const size = 48 << 20
	id := uuid.MustParse(testRoot)
	image := func() *os.File {
		f, err := os.Create(tempPath(t, "root.img"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		if err := f.Truncate(size); err != nil {
			t.Fatal(err)
		}
		return f
	}
	writes := 0
	if _, err := mkfsExt4Cut(image(), 0, size, id, "ROOT", func() bool { writes++; return false }); err != nil {
		t.Fatal(err)
	}
	if writes < 10 {
		t.Fatalf("only %d writes: the sweep would show little", writes)
	}
	whole := 0
	for k := range writes {
		f := image()
		n := 0
		_, err := mkfsExt4Cut(f, 0, size, id, "ROOT", func() bool { n++; return n > k })
		// go-diskfs does not always wrap the write's error.
		if err == nil {
			t.Fatalf("cut at write %d of %d: err = %v", k+1, writes, err)
		}
		ok, err := hasExt4(f, 0)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			// Only a cut among the superblock's own last writes leaves
			// the magic; what it then describes must be whole.
			whole++
			if out, clean := e2fsckClean(f.Name()); !clean {
				t.Errorf("cut at write %d of %d: the magic is there over a filesystem e2fsck rejects:\n%s", k+1, writes, out)
			}
			continue
		}
		if _, err := mkfsExt4(f, 0, size, id, "ROOT"); err != nil {
			t.Fatalf("cut at write %d: the next boot's format: %v", k+1, err)
		}
		if out, clean := e2fsckClean(f.Name()); !clean {
			t.Errorf("cut at write %d: formatted again, e2fsck:\n%s", k+1, out)
		}
	}
	t.Logf("%d writes; %d cuts left the magic (and a whole filesystem), the rest none", writes, whole)
}

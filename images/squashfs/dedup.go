package squashfs

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
)

// dedupMax is the largest file compared with others: a candidate is read
// whole into memory before its blocks go out, which bounds the memory.
const dedupMax = 16 << 20

// dedup finds files whose content an earlier file already has, so that
// they share its blocks and fragment instead of storing them again, as
// mksquashfs does. Only files whose size another file shares are
// hashed, so a tree without duplicates costs one map of sizes.
type dedup struct {
	sizes map[int64]int
	seen  map[[sha256.Size]byte]*node
}

func newDedup(files []*node) *dedup {
	d := &dedup{sizes: map[int64]int{}, seen: map[[sha256.Size]byte]*node{}}
	for _, f := range files {
		if f.entry.Size > 0 && f.entry.Size <= dedupMax {
			d.sizes[f.entry.Size]++
		}
	}
	return d
}

// open opens f's content. When an earlier file has the same content it
// marks f as that file's duplicate and reports dup; the caller then
// writes nothing for f.
func (d *dedup) open(f *node) (r io.ReadCloser, dup bool, err error) {
	r, err = f.entry.Open()
	if err != nil {
		return nil, false, fmt.Errorf("squashfs: open %q: %w", f.path, err)
	}
	if d.sizes[f.entry.Size] < 2 {
		return r, false, nil
	}
	defer r.Close()
	buf := make([]byte, f.entry.Size)
	if err := readFull(r, buf, f, 0); err != nil {
		return nil, false, err
	}
	if err := checkEOF(r, f); err != nil {
		return nil, false, err
	}
	sum := sha256.Sum256(buf)
	if orig, ok := d.seen[sum]; ok {
		f.dupOf = orig
		return nil, true, nil
	}
	d.seen[sum] = f
	return io.NopCloser(bytes.NewReader(buf)), false, nil
}

// resolveDuplicates gives each duplicate its original's data placement,
// known once the data writer has placed every block.
func resolveDuplicates(files []*node) {
	for _, f := range files {
		if f.dupOf != nil {
			f.data = f.dupOf.data
		}
	}
}

package esp

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem/fat32"

	"github.com/imgbuild/imgbuild/internal/gpt"
)

// ReadFiles returns every regular file of the FAT file system in
// partition partNumber of the disk image at path, keyed by its path from
// the root without a leading slash ("loader/entries/a+3.conf"). It reads
// with go-diskfs, whose FAT32 reader handles long names and is
// independent of our writer.
func ReadFiles(imagePath string, partNumber int) (map[string][]byte, error) {
	f, err := os.Open(imagePath)
	if err != nil {
		return nil, fmt.Errorf("esp: %w", err)
	}
	defer f.Close()
	t, err := gpt.Read(f, sectorSize)
	if err != nil {
		return nil, fmt.Errorf("esp: %s: %w", imagePath, err)
	}
	var p *gpt.Entry
	for _, e := range t.Entries() {
		if e.Number == partNumber {
			p = &e
		}
	}
	if p == nil {
		return nil, fmt.Errorf("esp: %s has no partition %d", imagePath, partNumber)
	}
	start, size := int64(p.FirstLBA)*sectorSize, int64(p.LastLBA-p.FirstLBA+1)*sectorSize
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("esp: %w", err)
	}
	if start < 0 || size < 0 || start > st.Size() || size > st.Size()-start {
		return nil, fmt.Errorf("esp: %s: partition %d (sectors %d-%d) lies outside the %d-byte image", imagePath, partNumber, p.FirstLBA, p.LastLBA, st.Size())
	}
	if err := checkBootSector(f, start, size); err != nil {
		return nil, fmt.Errorf("esp: %s: partition %d: %w", imagePath, partNumber, err)
	}
	return readFAT(f, start, size, partNumber)
}

// checkBootSector refuses a FAT32 boot sector whose FATs or sector count
// do not fit the partition: go-diskfs allocates the FATs by what the boot
// sector says, and four bytes of it made imgbuild verify allocate 6 GiB
// for a 40 MiB ESP (found by FuzzReadFiles).
func checkBootSector(r io.ReaderAt, start, size int64) error {
	var b [512]byte
	if _, err := r.ReadAt(b[:], start); err != nil {
		return fmt.Errorf("read boot sector: %w", err)
	}
	le := binary.LittleEndian
	sectors := uint64(size / sectorSize)
	bps, reserved, fats := le.Uint16(b[11:]), uint64(le.Uint16(b[14:])), uint64(b[16])
	total, fatSize := uint64(le.Uint32(b[32:])), uint64(le.Uint32(b[36:]))
	switch {
	case bps != sectorSize:
		return fmt.Errorf("FAT32 boot sector: %d-byte sectors, want %d", bps, sectorSize)
	case total > sectors || reserved+fats*fatSize > sectors:
		return fmt.Errorf("FAT32 boot sector: %d sectors, %d reserved and %d FATs of %d sectors do not fit the partition's %d sectors",
			total, reserved, fats, fatSize, sectors)
	}
	table := make([]byte, fatSize*sectorSize)
	if _, err := r.ReadAt(table, start+int64(reserved)*sectorSize); err != nil {
		return fmt.Errorf("read the FAT: %w", err)
	}
	return checkChains(table)
}

// checkChains refuses a FAT in which a cluster chain runs into a loop:
// go-diskfs follows a chain until its end, and a root directory whose
// cluster pointed back at itself made imgbuild verify hang (found by
// FuzzReadFiles).
func checkChains(table []byte) error {
	n := uint32(len(table) / 4)
	next := func(c uint32) uint32 { return binary.LittleEndian.Uint32(table[4*c:]) & 0x0fffffff }
	// state: 0 not yet seen, 1 on the chain being followed, 2 ends well.
	state := make([]byte, n)
	var chain []uint32
	for c := uint32(2); c < n; c++ {
		chain = chain[:0]
		for x := c; x >= 2 && x < n && state[x] != 2; x = next(x) {
			if state[x] == 1 {
				return fmt.Errorf("the FAT's cluster chain through cluster %d loops", x)
			}
			state[x] = 1
			chain = append(chain, x)
		}
		for _, x := range chain {
			state[x] = 2
		}
	}
	return nil
}

// readFAT reads every file of the FAT32 file system at start. go-diskfs
// indexes its structures by what the disk says and panics on many a
// damaged file system (found by FuzzReadFiles): imgbuild verify reads
// images nobody vouches for yet, so such a panic is this image's error.
func readFAT(f *os.File, start, size int64, partNumber int) (out map[string][]byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("esp: partition %d: damaged FAT32 (the reader failed: %v)", partNumber, r)
		}
	}()
	fs, err := fat32.Read(file.New(f, true), size, start, sectorSize)
	if err != nil {
		return nil, fmt.Errorf("esp: read FAT32 in partition %d: %w", partNumber, err)
	}
	w := &fatWalk{fs: fs, out: map[string][]byte{}, entries: maxEntries, bytes: size}
	if err := w.dir("."); err != nil {
		return nil, fmt.Errorf("esp: partition %d: %w", partNumber, err)
	}
	return w.out, nil
}

// maxEntries and maxPath bound a read's walk: an ESP holds tens of
// files, and a directory that lists itself (or its parent) again made
// the walk recurse forever (found by FuzzReadFiles); go-diskfs resolves
// each path from the root, so depth costs quadratically too. 260 is FAT's
// own limit on a path.
const (
	maxEntries = 1 << 12
	maxPath    = 260
)

// fatWalk reads a file system's tree within budgets: entries left to
// visit, and bytes left to read (no more than the partition holds, so a
// directory entry's size cannot make the read allocate more).
type fatWalk struct {
	fs             *fat32.FileSystem
	out            map[string][]byte
	entries, bytes int64
}

func (w *fatWalk) dir(dir string) error {
	fs, out := w.fs, w.out
	entries, err := fs.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("read directory %s: %w", dir, err)
	}
	for _, e := range entries {
		name := e.Name()
		if name == "." || name == ".." {
			continue
		}
		p := path.Join(dir, name) // io/fs form: "." is the root, no leading slash
		if w.entries--; w.entries < 0 || len(p) > maxPath {
			return fmt.Errorf("more than %d directory entries, or a path longer than %d bytes, at %.80s (a directory loop?)", maxEntries, maxPath, p)
		}
		if e.IsDir() {
			if err := w.dir(p); err != nil {
				return err
			}
			continue
		}
		fi, err := e.Info()
		if err != nil {
			return fmt.Errorf("stat %s: %w", p, err)
		}
		if w.bytes -= fi.Size(); w.bytes < 0 {
			return fmt.Errorf("%s: %d bytes, past what the partition holds", p, fi.Size())
		}
		if fi.Size() == 0 {
			// go-diskfs cannot open an empty file: it has no cluster
			// (start cluster 0), as FAT wants it.
			out[p] = []byte{}
			continue
		}
		r, err := fs.OpenFile(p, os.O_RDONLY)
		if err != nil {
			return fmt.Errorf("open %s: %w", p, err)
		}
		// go-diskfs v1.9.4 returns whole sectors past the end of some
		// small files (TestGoDiskfsReadsPastEOF): trust the directory
		// entry's size instead.
		b, err := io.ReadAll(io.LimitReader(r, fi.Size()))
		r.Close()
		if err != nil {
			return fmt.Errorf("read %s: %w", p, err)
		}
		if int64(len(b)) != fi.Size() {
			return fmt.Errorf("read %s: got %d bytes, its directory entry says %d", p, len(b), fi.Size())
		}
		out[p] = b
	}
	return nil
}

// sectorSize is the disk's and the FAT's sector size.
const sectorSize = 512

package squashfs

import (
	"encoding/binary"
	"fmt"
	"io/fs"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// metaTable is a metadata table read back: its uncompressed bytes and
// the uncompressed position of each block, by compressed start.
type metaTable struct {
	data   []byte
	blocks map[uint64]uint64
}

func readMetaTable(t *testing.T, img []byte, start, end uint64) metaTable {
	t.Helper()
	dec, err := zstd.NewReader(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	m := metaTable{blocks: map[uint64]uint64{}}
	for pos := start; pos < end; {
		hdr := binary.LittleEndian.Uint16(img[pos:])
		n := uint64(hdr & 0x7FFF)
		body := img[pos+2 : pos+2+n]
		if hdr&0x8000 == 0 {
			if body, err = dec.DecodeAll(body, nil); err != nil {
				t.Fatalf("metadata block at %d: %v", pos, err)
			}
		}
		m.blocks[pos-start] = uint64(len(m.data))
		m.data = append(m.data, body...)
		pos += 2 + n
	}
	return m
}

// at resolves a reference (block start << 16 | offset) to a position in data.
func (m metaTable) at(t *testing.T, ref uint64) uint64 {
	t.Helper()
	u, ok := m.blocks[ref>>16]
	if !ok {
		t.Fatalf("reference %#x names no block start", ref)
	}
	return u + ref&0xFFFF
}

// TestDirectoryIndex reads a large directory's extended inode back and
// checks that every index entry points at a directory header in the
// right metadata block whose first name is the indexed one, the contract
// the kernel's lookup and readdir rely on.
func TestDirectoryIndex(t *testing.T) {
	var entries []Entry
	for i := range 3000 {
		mode := fs.FileMode(0o644)
		if i%11 == 0 {
			mode = fs.ModeDir | 0o755
		}
		entries = append(entries, Entry{Path: fmt.Sprintf("big/a-rather-long-file-name-to-fill-blocks-%05d", i), Mode: mode})
	}
	img := writeMem(t, entries, 0, Options{Level: 3})
	le := binary.LittleEndian
	inodeStart, dirStart := le.Uint64(img[64:]), le.Uint64(img[72:])
	fragStart := le.Uint64(img[80:])
	if le.Uint32(img[16:]) != 0 { // no fragments: the directory table ends at the fragment table's start
		t.Fatal("unexpected fragments")
	}
	inodes := readMetaTable(t, img, inodeStart, dirStart)
	dirs := readMetaTable(t, img, dirStart, fragStart)

	root := inodes.data[inodes.at(t, le.Uint64(img[32:])):]
	if typ := le.Uint16(root); typ != typeDir {
		t.Fatalf("root inode type %d, want a basic directory", typ)
	}
	// The root has one entry, "big"; find its inode.
	rootListing := dirs.data[dirs.at(t, uint64(le.Uint32(root[16:]))<<16|uint64(le.Uint16(root[26:]))):]
	bigRef := uint64(le.Uint32(rootListing[4:]))<<16 | uint64(le.Uint16(rootListing[12:]))
	big := inodes.data[inodes.at(t, bigRef):]
	if typ := le.Uint16(big); typ != typeLDir {
		t.Fatalf("big directory inode type %d, want extended (%d)", typ, typeLDir)
	}
	size, start := le.Uint32(big[20:]), le.Uint32(big[24:])
	icount, offset := le.Uint16(big[32:]), le.Uint16(big[34:])
	listing := dirs.at(t, uint64(start)<<16|uint64(offset))
	if want := int(size-3) / metadataSize; int(icount) < want {
		t.Errorf("index has %d entries for a %d-byte listing, want at least %d", icount, size-3, want)
	}
	p := big[40:]
	prev := ""
	for i := range int(icount) {
		index, block, n := le.Uint32(p), le.Uint32(p[4:]), le.Uint32(p[8:])+1
		name := string(p[12 : 12+n])
		p = p[12+n:]
		// The kernel goes to block and to offset (index + dir offset) % 8192.
		u, ok := dirs.blocks[uint64(block)]
		if !ok {
			t.Fatalf("index %d: start block %d is not a block start", i, block)
		}
		hdr := u + uint64((index+uint32(offset))%metadataSize)
		if hdr != listing+uint64(index) {
			t.Fatalf("index %d: resolves to %d, want listing start %d + %d", i, hdr, listing, index)
		}
		count := le.Uint32(dirs.data[hdr:]) + 1
		first := dirs.data[hdr+12:]
		firstName := string(first[8 : 8+min(uint32(le.Uint16(first[6:]))+1, maxNameLen)])
		if count > maxDirCount || firstName != name || name <= prev {
			t.Fatalf("index %d: header count %d, first name %.80q; index name %q after %q", i, count, firstName, name, prev)
		}
		prev = name
	}
}

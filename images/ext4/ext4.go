// Package ext4 reads files from an ext4 file system image, read-only,
// as an fs.FS: what imgbuild logs needs to read ROOT's journal from a
// stopped disk image without mounting it.
//
// go-diskfs v1.9.4 reads ext4 too, but checks inode checksums even when
// the file system has no metadata_csum: ROOT's inodes that the kernel
// wrote (it leaves the checksum fields alone without the feature) all
// fail (TestDiskfsRefusesInodesWithoutMetadataCsum pins it). This
// reader takes extents, flex_bg, 64bit and large directories (read
// linearly: an htree's index blocks read as empty entries), and refuses
// what it does not know (inline data, encryption) by name.
package ext4

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

const (
	superblockOffset = 1024
	magic            = 0xef53
	rootInode        = 2

	incompat64bit      = 0x80
	incompatExtents    = 0x40
	incompatInlineData = 0x8000
	incompatEncrypt    = 0x10000

	inodeFlagExtents = 0x80000
	extentMagic      = 0xf30a

	// maxExtentDepth is ext4's own limit; deeper is damage, not data.
	maxExtentDepth = 5
	// maxDirBytes bounds a directory read: a damaged size must not make
	// the reader allocate without limit.
	maxDirBytes = 64 << 20
)

// FS is an ext4 file system read through r.
type FS struct {
	r               io.ReaderAt
	blockSize       int64
	inodesPerGroup  uint32
	inodeSize       int64
	descSize        int64
	groupDescsStart int64
	groups          uint32
	incompat        uint32
	bytes           int64 // the file system's size: no file is larger
}

// Open reads the superblock of the ext4 file system at r.
func Open(r io.ReaderAt) (*FS, error) {
	sb := make([]byte, 1024)
	if _, err := r.ReadAt(sb, superblockOffset); err != nil {
		return nil, fmt.Errorf("ext4: read superblock: %w", err)
	}
	le := binary.LittleEndian
	if le.Uint16(sb[0x38:]) != magic {
		return nil, errors.New("ext4: no ext4 superblock (magic)")
	}
	logBlock := le.Uint32(sb[0x18:])
	if logBlock > 6 {
		return nil, fmt.Errorf("ext4: block size 2^%d KiB: not ext4", logBlock)
	}
	f := &FS{r: r, blockSize: 1024 << logBlock, inodesPerGroup: le.Uint32(sb[0x28:]), inodeSize: 128,
		incompat: le.Uint32(sb[0x60:])}
	if le.Uint32(sb[0x4c:]) >= 1 { // dynamic revision: inode size is in the superblock
		f.inodeSize = int64(le.Uint16(sb[0x58:]))
	}
	if f.incompat&(incompatInlineData|incompatEncrypt) != 0 {
		return nil, fmt.Errorf("ext4: features %#x (inline data or encryption) are not read here", f.incompat&(incompatInlineData|incompatEncrypt))
	}
	f.descSize = 32
	if f.incompat&incompat64bit != 0 {
		f.descSize = int64(le.Uint16(sb[0xfe:]))
	}
	blocksPerGroup := le.Uint32(sb[0x20:])
	blocks := uint64(le.Uint32(sb[0x04:]))
	if f.incompat&incompat64bit != 0 {
		blocks |= uint64(le.Uint32(sb[0x150:])) << 32
	}
	first := uint64(le.Uint32(sb[0x14:]))
	if f.inodesPerGroup == 0 || blocksPerGroup == 0 || f.inodeSize < 128 || f.inodeSize > f.blockSize || f.descSize < 32 || blocks <= first {
		return nil, errors.New("ext4: damaged superblock (group or inode sizes)")
	}
	f.groups = uint32((blocks - first + uint64(blocksPerGroup) - 1) / uint64(blocksPerGroup))
	f.bytes = int64(min(blocks, 1<<50/uint64(f.blockSize))) * f.blockSize
	f.groupDescsStart = (int64(first) + 1) * f.blockSize
	return f, nil
}

// inode is the part of an on-disk inode this reader uses.
type inode struct {
	num   uint32
	mode  uint16
	size  int64
	mtime time.Time
	flags uint32
	block [60]byte
}

func (f *FS) inode(num uint32) (*inode, error) {
	if num == 0 || (num-1)/f.inodesPerGroup >= f.groups {
		return nil, fmt.Errorf("ext4: inode %d out of range", num)
	}
	group := (num - 1) / f.inodesPerGroup
	gd := make([]byte, f.descSize)
	if _, err := f.r.ReadAt(gd, f.groupDescsStart+int64(group)*f.descSize); err != nil {
		return nil, fmt.Errorf("ext4: group descriptor %d: %w", group, err)
	}
	le := binary.LittleEndian
	table := uint64(le.Uint32(gd[0x08:]))
	if f.descSize >= 64 {
		table |= uint64(le.Uint32(gd[0x28:])) << 32
	}
	b := make([]byte, 160)
	if _, err := f.r.ReadAt(b[:min(160, f.inodeSize)], int64(table)*f.blockSize+int64((num-1)%f.inodesPerGroup)*f.inodeSize); err != nil {
		return nil, fmt.Errorf("ext4: inode %d: %w", num, err)
	}
	in := &inode{num: num, mode: le.Uint16(b[0:]), size: int64(le.Uint32(b[0x04:])) | int64(le.Uint32(b[0x6c:]))<<32,
		mtime: time.Unix(int64(int32(le.Uint32(b[0x10:]))), 0), flags: le.Uint32(b[0x20:])}
	copy(in.block[:], b[0x28:0x28+60])
	if in.size < 0 || in.size > f.bytes {
		return nil, fmt.Errorf("ext4: inode %d: size %d in a file system of %d bytes: damaged", num, in.size, f.bytes)
	}
	return in, nil
}

// extent maps length blocks of a file from its block logical on to the
// disk's block physical.
type extent struct {
	logical  uint32
	length   uint32
	physical uint64
}

// extents lists a file's extents in logical order.
func (f *FS) extents(in *inode) ([]extent, error) {
	if in.flags&inodeFlagExtents == 0 {
		return nil, fmt.Errorf("ext4: inode %d uses block maps, not extents: not read here", in.num)
	}
	var out []extent
	// A file has at most one extent per block: more is a damaged (or
	// hostile) tree whose index entries point at one block many times.
	limit := int(in.size/f.blockSize) + 1
	if err := f.walk(in.block[:], -1, limit, &out); err != nil {
		return nil, fmt.Errorf("ext4: inode %d: %w", in.num, err)
	}
	return out, nil
}

// walk appends the extents under node, whose depth must be want (-1:
// the root, any depth up to ext4's limit).
func (f *FS) walk(node []byte, want, limit int, out *[]extent) error {
	le := binary.LittleEndian
	if len(node) < 12 || le.Uint16(node) != extentMagic {
		return errors.New("damaged extent tree (magic)")
	}
	entries, depth := int(le.Uint16(node[2:])), int(le.Uint16(node[6:]))
	if depth > maxExtentDepth || want >= 0 && depth != want || 12+entries*12 > len(node) {
		return errors.New("damaged extent tree (depth or entries)")
	}
	for i := range entries {
		if len(*out) >= limit {
			return errors.New("damaged extent tree (more extents than blocks)")
		}
		e := node[12+i*12 : 24+i*12]
		if depth == 0 {
			length := uint32(le.Uint16(e[4:]))
			if length > 32768 { // an unwritten (preallocated) extent reads as zeros
				*out = append(*out, extent{logical: le.Uint32(e), length: length - 32768})
				continue
			}
			*out = append(*out, extent{logical: le.Uint32(e), length: length,
				physical: uint64(le.Uint16(e[6:]))<<32 | uint64(le.Uint32(e[8:]))})
			continue
		}
		child := make([]byte, f.blockSize)
		at := uint64(le.Uint16(e[8:]))<<32 | uint64(le.Uint32(e[4:]))
		if _, err := f.r.ReadAt(child, int64(at)*f.blockSize); err != nil {
			return fmt.Errorf("extent block %d: %w", at, err)
		}
		if err := f.walk(child, depth-1, limit, out); err != nil {
			return err
		}
	}
	return nil
}

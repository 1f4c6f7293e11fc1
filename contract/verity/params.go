// Package verity builds and checks dm-verity hash trees in the layout
// `veritysetup format` writes: format 1, sha256, 4096-byte data and hash
// blocks, salt prepended to each hashed block, the hash area appended
// after the data in the same partition with the 512-byte verity
// superblock at its start (or without a superblock, see Build).
package verity

import "fmt"

const (
	// BlockSize is the data and hash block size, in bytes.
	BlockSize = 4096
	// Algorithm is the hash algorithm name as the kernel and veritysetup spell it.
	Algorithm = "sha256"

	digestSize     = 32
	hashesPerBlock = BlockSize / digestSize
	maxSaltSize    = 256
)

// Params describes a built hash tree: what a dm-verity table and a
// signed release record need.
type Params struct {
	DataBlocks uint64 // number of 4096-byte data blocks covered
	HashOffset int64  // byte offset of the hash area (superblock first, unless NoSuperblock)
	Salt       []byte
	RootHash   []byte
	// UUID is the superblock UUID (canonical text form), empty when
	// NoSuperblock is set.
	UUID         string
	NoSuperblock bool
}

// HashStartBlock is the hash device block (of BlockSize bytes) at which
// the tree's top level starts: the dm-verity table's hash_start_block.
// The superblock takes one whole hash block, as veritysetup computes it.
func (p Params) HashStartBlock() uint64 {
	start := uint64(p.HashOffset) / BlockSize
	if !p.NoSuperblock {
		start++
	}
	return start
}

// DataSize is the size of the covered data area in bytes.
func (p Params) DataSize() int64 { return int64(p.DataBlocks) * BlockSize }

func (p Params) check() error {
	if p.DataBlocks == 0 {
		return fmt.Errorf("verity: no data blocks")
	}
	if p.HashOffset < 0 || p.HashOffset%BlockSize != 0 {
		return fmt.Errorf("verity: hash offset %d is not a multiple of %d", p.HashOffset, BlockSize)
	}
	if len(p.Salt) > maxSaltSize {
		return fmt.Errorf("verity: salt of %d bytes is longer than %d", len(p.Salt), maxSaltSize)
	}
	return nil
}

package verity

import (
	"bytes"
	"fmt"
	"io"
	"runtime"
)

// CorruptError names the first block whose content does not match the
// tree: a data block, a hash block, or the superblock.
type CorruptError struct {
	Kind   string // "data", "hash" or "superblock"
	Level  int    // tree level of a hash block, 0 = bottom; -1 otherwise
	Block  uint64 // data block number, or hash block number within its level
	Offset int64  // byte offset of the block in the device
	Reason string
}

func (e *CorruptError) Error() string {
	switch e.Kind {
	case "data":
		return fmt.Sprintf("verity: data block %d at offset %d: %s", e.Block, e.Offset, e.Reason)
	case "hash":
		return fmt.Sprintf("verity: hash block %d of level %d at offset %d: %s", e.Block, e.Level, e.Offset, e.Reason)
	}
	return fmt.Sprintf("verity: superblock at offset %d: %s", e.Offset, e.Reason)
}

// Verify recomputes the tree described by p over r (data and hash area
// on the same device) and checks it top down, the way the kernel trusts
// it: the top hash block against p.RootHash, each lower hash block
// against its parent, each data block against the bottom level, and the
// zero padding of every last hash block of a level. It also checks the
// superblock unless p.NoSuperblock. A mismatch is reported as a
// *CorruptError naming the first bad block.
func Verify(r io.ReaderAt, p Params) error {
	if err := p.check(); err != nil {
		return err
	}
	if len(p.RootHash) != digestSize {
		return fmt.Errorf("verity: root hash is %d bytes, want %d", len(p.RootHash), digestSize)
	}
	if !p.NoSuperblock {
		if err := checkSuperblock(r, p); err != nil {
			return err
		}
	}
	sizes := levelSizes(p.DataBlocks)
	if len(sizes) == 0 {
		return verifyBlock(r, newHasher(p.Salt), "data", -1, 0, 0, p.RootHash)
	}
	v := &verifier{r: r, p: p, sizes: sizes, starts: levelStarts(sizes), treeOff: int64(p.HashStartBlock()) * BlockSize}
	parent, err := v.upperLevels()
	if err != nil {
		return err
	}
	return v.bottomAndData(parent, runtime.GOMAXPROCS(0))
}

func checkSuperblock(r io.ReaderAt, p Params) error {
	sb, err := ReadSuperblock(r, p.HashOffset)
	if err != nil {
		return &CorruptError{Kind: "superblock", Level: -1, Offset: p.HashOffset, Reason: err.Error()}
	}
	bad := func(what string, got, want any) error {
		return &CorruptError{Kind: "superblock", Level: -1, Offset: p.HashOffset,
			Reason: fmt.Sprintf("%s is %v, want %v", what, got, want)}
	}
	switch {
	case sb.DataBlocks != p.DataBlocks:
		return bad("data blocks", sb.DataBlocks, p.DataBlocks)
	case !bytes.Equal(sb.Salt, p.Salt):
		return bad("salt", fmt.Sprintf("%x", sb.Salt), fmt.Sprintf("%x", p.Salt))
	case p.UUID != "" && sb.UUID != p.UUID:
		return bad("UUID", sb.UUID, p.UUID)
	}
	return nil
}

type verifier struct {
	r       io.ReaderAt
	p       Params
	sizes   []uint64
	starts  []uint64
	treeOff int64
}

func (v *verifier) levelOffset(level int) int64 {
	return v.treeOff + int64(v.starts[level])*BlockSize
}

// entries is the number of digests level holds: one per block below.
func (v *verifier) entries(level int) uint64 {
	if level == 0 {
		return v.p.DataBlocks
	}
	return v.sizes[level-1]
}

// upperLevels reads and checks every level above the bottom one, top
// down, and returns the checked content of level 1 (or the root hash
// when the bottom level is the top): the digests the bottom level's
// blocks must match. These levels are 1/16384 of the data or less.
func (v *verifier) upperLevels() ([]byte, error) {
	parent := v.p.RootHash
	h := newHasher(v.p.Salt)
	for level := len(v.sizes) - 1; level >= 1; level-- {
		blocks := make([]byte, v.sizes[level]*BlockSize)
		off := v.levelOffset(level)
		if _, err := v.r.ReadAt(blocks, off); err != nil {
			return nil, fmt.Errorf("verity: read hash level %d at %d: %w", level, off, err)
		}
		if err := checkHashBlocks(h, blocks, parent, level, 0, off, v.entries(level)); err != nil {
			return nil, err
		}
		parent = blocks
	}
	return parent, nil
}

// checkHashBlocks checks hash blocks [first, first+n) of level, held in
// blocks and read from off, against the parent digests, and checks that
// the unused tail of the level's last block is zero.
func checkHashBlocks(h *hasher, blocks, parent []byte, level int, first uint64, off int64, entries uint64) error {
	var sum [digestSize]byte
	n := uint64(len(blocks) / BlockSize)
	for k := range n {
		b := blocks[k*BlockSize : (k+1)*BlockSize]
		idx := first + k
		h.sum(sum[:], b)
		if !bytes.Equal(sum[:], parent[idx*digestSize:(idx+1)*digestSize]) {
			return &CorruptError{Kind: "hash", Level: level, Block: idx, Offset: off + int64(k)*BlockSize,
				Reason: "does not match its parent hash"}
		}
	}
	if used := entries - first*hashesPerBlock; used < n*hashesPerBlock {
		tail := blocks[used*digestSize:]
		if i := bytes.IndexFunc(tail, func(r rune) bool { return r != 0 }); i >= 0 {
			last := (used*digestSize + uint64(i)) / BlockSize
			return &CorruptError{Kind: "hash", Level: level, Block: first + last, Offset: off + int64(last)*BlockSize,
				Reason: "padding after the last digest is not zero"}
		}
	}
	return nil
}

// bottomAndData checks the bottom level, then the data, each in
// parallel chunks of chunkHashBlocks hash blocks (and the data blocks
// they cover). The bottom level is read twice, 1/128 of the data, so
// that a bad hash block is reported before any data block it vouches
// for, wherever it lies.
func (v *verifier) bottomAndData(parent []byte, workers int) error {
	n := v.sizes[0]
	chunks := (n + chunkHashBlocks - 1) / chunkHashBlocks
	readHashes := func(buf []byte, c uint64) ([]byte, uint64, int64, error) {
		first := c * chunkHashBlocks
		hb := buf[:min(chunkHashBlocks, n-first)*BlockSize]
		off := v.levelOffset(0) + int64(first)*BlockSize
		if _, err := v.r.ReadAt(hb, off); err != nil {
			return nil, 0, 0, fmt.Errorf("verity: read hash blocks at %d: %w", off, err)
		}
		return hb, first, off, nil
	}
	err := forChunks(chunks, workers, func() func(uint64) error {
		h := newHasher(v.p.Salt)
		buf := make([]byte, chunkHashBlocks*BlockSize)
		return func(c uint64) error {
			hb, first, off, err := readHashes(buf, c)
			if err != nil {
				return err
			}
			return checkHashBlocks(h, hb, parent, 0, first, off, v.p.DataBlocks)
		}
	})
	if err != nil {
		return err
	}
	return forChunks(chunks, workers, func() func(uint64) error {
		h := newHasher(v.p.Salt)
		buf := make([]byte, chunkHashBlocks*BlockSize)
		data := make([]byte, chunkHashBlocks*hashesPerBlock*BlockSize)
		return func(c uint64) error {
			hb, first, _, err := readHashes(buf, c)
			if err != nil {
				return err
			}
			return v.checkData(h, data, hb, first*hashesPerBlock)
		}
	})
}

// checkData checks the data blocks from firstBlock on against the
// digests in hashes.
func (v *verifier) checkData(h *hasher, buf, hashes []byte, firstBlock uint64) error {
	count := min(uint64(len(hashes)/digestSize), v.p.DataBlocks-firstBlock)
	data := buf[:count*BlockSize]
	if _, err := v.r.ReadAt(data, int64(firstBlock)*BlockSize); err != nil {
		return fmt.Errorf("verity: read data blocks from %d: %w", firstBlock, err)
	}
	var sum [digestSize]byte
	for j := range count {
		h.sum(sum[:], data[j*BlockSize:(j+1)*BlockSize])
		if !bytes.Equal(sum[:], hashes[j*digestSize:(j+1)*digestSize]) {
			b := firstBlock + j
			return &CorruptError{Kind: "data", Level: -1, Block: b, Offset: int64(b) * BlockSize,
				Reason: "does not match its hash"}
		}
	}
	return nil
}

func verifyBlock(r io.ReaderAt, h *hasher, kind string, level int, block uint64, off int64, want []byte) error {
	b := make([]byte, BlockSize)
	if _, err := r.ReadAt(b, off); err != nil {
		return fmt.Errorf("verity: read %s block at %d: %w", kind, off, err)
	}
	var sum [digestSize]byte
	h.sum(sum[:], b)
	if !bytes.Equal(sum[:], want) {
		return &CorruptError{Kind: kind, Level: level, Block: block, Offset: off, Reason: "does not match the root hash"}
	}
	return nil
}

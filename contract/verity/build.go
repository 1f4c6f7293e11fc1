package verity

import (
	"fmt"
	"io"
	"runtime"
)

// chunkHashBlocks is how many bottom-level hash blocks one worker makes
// per step: 8 blocks cover 4 MiB of data, the most a worker holds.
const chunkHashBlocks = 8

// Build hashes the data area [0, dataSize) of r and writes the hash area
// at hashOffset of w (typically the same partition, with hashOffset =
// dataSize). The data blocks are hashed by workers goroutines
// (GOMAXPROCS when workers <= 0), each streaming 4 MiB at a time; only
// the digests of the bottom-level hash blocks (1/16384 of the data) are
// kept in memory for the upper levels.
//
// uuid (canonical text form) goes into the superblock, which Build writes
// as the first hash block, zero padded, as `veritysetup format` does. An
// empty uuid means no superblock: the tree starts right at hashOffset, as
// with `veritysetup format --no-superblock`.
func Build(r io.ReaderAt, dataSize int64, w io.WriterAt, hashOffset int64, salt []byte, uuid string, workers int) (*Params, error) {
	if err := checkDataSize(dataSize); err != nil {
		return nil, err
	}
	p := &Params{
		DataBlocks:   uint64(dataSize / BlockSize),
		HashOffset:   hashOffset,
		Salt:         append([]byte{}, salt...),
		UUID:         uuid,
		NoSuperblock: uuid == "",
	}
	if err := p.check(); err != nil {
		return nil, err
	}
	var uuidBytes [16]byte
	if uuid != "" {
		u, err := parseUUID(uuid)
		if err != nil {
			return nil, err
		}
		uuidBytes, p.UUID = u, formatUUID(u)
	}
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	root, err := buildTree(r, w, p, workers)
	if err != nil {
		return nil, err
	}
	p.RootHash = root
	if !p.NoSuperblock {
		block := make([]byte, BlockSize)
		copy(block, encodeSuperblock(p.DataBlocks, p.Salt, uuidBytes))
		if _, err := w.WriteAt(block, hashOffset); err != nil {
			return nil, fmt.Errorf("verity: write superblock at %d: %w", hashOffset, err)
		}
	}
	return p, nil
}

// buildTree writes every level and returns the root hash.
func buildTree(r io.ReaderAt, w io.WriterAt, p *Params, workers int) ([]byte, error) {
	sizes := levelSizes(p.DataBlocks)
	if len(sizes) == 0 {
		block := make([]byte, BlockSize)
		if _, err := r.ReadAt(block, 0); err != nil {
			return nil, fmt.Errorf("verity: read data block 0: %w", err)
		}
		root := make([]byte, digestSize)
		newHasher(p.Salt).sum(root, block)
		return root, nil
	}
	starts := levelStarts(sizes)
	treeOff := int64(p.HashStartBlock()) * BlockSize
	digests, err := hashData(r, w, p, treeOff+int64(starts[0])*BlockSize, sizes[0], workers)
	if err != nil {
		return nil, err
	}
	for i := 1; i < len(sizes); i++ {
		digests, err = hashLevel(w, digests, treeOff+int64(starts[i])*BlockSize, p.Salt)
		if err != nil {
			return nil, fmt.Errorf("verity: level %d: %w", i, err)
		}
	}
	return digests, nil
}

// hashData makes the bottom level: n hash blocks written at off, holding
// the digests of every data block. It returns the digests of those hash
// blocks, the input of the next level up.
func hashData(r io.ReaderAt, w io.WriterAt, p *Params, off int64, n uint64, workers int) ([]byte, error) {
	out := make([]byte, n*digestSize)
	chunks := (n + chunkHashBlocks - 1) / chunkHashBlocks
	err := forChunks(chunks, workers, func() func(uint64) error {
		return newChunkWorker(r, w, p, off, out).do
	})
	return out, err
}

// chunkWorker holds one worker's buffers.
type chunkWorker struct {
	r      io.ReaderAt
	w      io.WriterAt
	p      *Params
	off    int64
	out    []byte
	h      *hasher
	data   []byte
	hashes []byte
}

func newChunkWorker(r io.ReaderAt, w io.WriterAt, p *Params, off int64, out []byte) *chunkWorker {
	return &chunkWorker{
		r: r, w: w, p: p, off: off, out: out,
		h:      newHasher(p.Salt),
		data:   make([]byte, chunkHashBlocks*hashesPerBlock*BlockSize),
		hashes: make([]byte, chunkHashBlocks*BlockSize),
	}
}

// do hashes chunk c: data blocks [c*1024, c*1024+1024) into bottom-level
// hash blocks [c*8, c*8+8).
func (cw *chunkWorker) do(c uint64) error {
	first := c * chunkHashBlocks * hashesPerBlock
	count := min(chunkHashBlocks*hashesPerBlock, cw.p.DataBlocks-first)
	data := cw.data[:count*BlockSize]
	if _, err := cw.r.ReadAt(data, int64(first)*BlockSize); err != nil {
		return fmt.Errorf("verity: read data blocks %d-%d: %w", first, first+count-1, err)
	}
	nh := (count + hashesPerBlock - 1) / hashesPerBlock
	hashes := cw.hashes[:nh*BlockSize]
	clear(hashes)
	for j := range count {
		cw.h.sum(hashes[j*digestSize:], data[j*BlockSize:(j+1)*BlockSize])
	}
	at := cw.off + int64(c*chunkHashBlocks)*BlockSize
	if _, err := cw.w.WriteAt(hashes, at); err != nil {
		return fmt.Errorf("verity: write hash blocks at %d: %w", at, err)
	}
	for k := range nh {
		cw.h.sum(cw.out[(c*chunkHashBlocks+k)*digestSize:], hashes[k*BlockSize:(k+1)*BlockSize])
	}
	return nil
}

// hashLevel packs digests into zero-padded hash blocks, writes them at
// off and returns their digests. Upper levels are 1/128 of the level
// below, small enough to build in memory on one goroutine.
func hashLevel(w io.WriterAt, digests []byte, off int64, salt []byte) ([]byte, error) {
	blocks := packDigests(digests)
	if _, err := w.WriteAt(blocks, off); err != nil {
		return nil, fmt.Errorf("write hash blocks at %d: %w", off, err)
	}
	return blockDigests(blocks, salt), nil
}

func packDigests(digests []byte) []byte {
	n := (len(digests)/digestSize + hashesPerBlock - 1) / hashesPerBlock
	blocks := make([]byte, n*BlockSize)
	copy(blocks, digests)
	return blocks
}

func blockDigests(blocks, salt []byte) []byte {
	h := newHasher(salt)
	n := len(blocks) / BlockSize
	out := make([]byte, n*digestSize)
	for k := range n {
		h.sum(out[k*digestSize:], blocks[k*BlockSize:(k+1)*BlockSize])
	}
	return out
}

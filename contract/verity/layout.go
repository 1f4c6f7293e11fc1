package verity

import "fmt"

// levelSizes returns the number of hash blocks in each tree level,
// bottom level (hashes of data blocks) first, stopping at the level with
// a single block. One data block needs no hash block at all: its digest
// is the root hash, as in the kernel and veritysetup.
func levelSizes(dataBlocks uint64) []uint64 {
	var sizes []uint64
	for n := dataBlocks; n > 1; {
		n = (n + hashesPerBlock - 1) / hashesPerBlock
		sizes = append(sizes, n)
	}
	return sizes
}

// levelStarts returns the first hash block of each level, relative to the
// tree start, indexed like levelSizes. On disk the top level comes first
// and the bottom level last, the order veritysetup writes and the kernel
// reads.
func levelStarts(sizes []uint64) []uint64 {
	starts := make([]uint64, len(sizes))
	var pos uint64
	for i := len(sizes) - 1; i >= 0; i-- {
		starts[i] = pos
		pos += sizes[i]
	}
	return starts
}

func treeBlocks(dataBlocks uint64) uint64 {
	var n uint64
	for _, s := range levelSizes(dataBlocks) {
		n += s
	}
	return n
}

// HashAreaSize is the number of bytes Build writes at the hash offset for
// dataSize bytes of data, superblock block included (one block less
// without a superblock). dataSize must be a positive multiple of
// BlockSize; other sizes give 0.
func HashAreaSize(dataSize int64) int64 {
	if dataSize <= 0 || dataSize%BlockSize != 0 {
		return 0
	}
	return (1 + int64(treeBlocks(uint64(dataSize/BlockSize)))) * BlockSize
}

func checkDataSize(dataSize int64) error {
	if dataSize <= 0 || dataSize%BlockSize != 0 {
		return fmt.Errorf("verity: data size %d is not a positive multiple of %d", dataSize, BlockSize)
	}
	return nil
}

package squashfs

import (
	"encoding/binary"
	"fmt"
	"math"
)

// maxDirCount is the most entries one directory header may cover.
const maxDirCount = 256

// dirHeader marks where a run of entries sharing an inode block starts.
type dirHeader struct {
	at   int    // offset in the listing
	name string // first entry's name
}

// dirListing encodes n's entries as they appear in the directory table,
// with the listing to start at uncompressed table position base. A new
// header starts every 256 entries, when the inode block or the inode
// number range changes, and when an entry would start in another metadata
// block than its header, so that every metadata block of a large listing
// can be reached through the directory index.
func dirListing(n *node, base uint64) ([]byte, []dirHeader, error) {
	le := binary.LittleEndian
	var b []byte
	var headers []dirHeader
	countAt, count := 0, 0
	var hdrBlock uint64
	var hdrIno uint32
	for _, c := range n.children {
		block, offset := c.ref>>16, uint16(c.ref&0xFFFF)
		delta := int64(c.ino) - int64(hdrIno)
		here := base + uint64(len(b))
		hdrStart := base + uint64(headers0(headers))
		if count == 0 || count == maxDirCount || block != hdrBlock ||
			delta < math.MinInt16 || delta > math.MaxInt16 ||
			here/metadataSize != hdrStart/metadataSize {
			if count > 0 {
				le.PutUint32(b[countAt:], uint32(count-1))
			}
			countAt, count, hdrBlock, hdrIno, delta = len(b), 0, block, c.ino, 0
			headers = append(headers, dirHeader{at: len(b), name: c.name})
			b = le.AppendUint32(b, 0) // count, set when the run ends
			b = le.AppendUint32(b, uint32(block))
			b = le.AppendUint32(b, c.ino)
		}
		if block > math.MaxUint32 {
			return nil, nil, fmt.Errorf("squashfs: inode table too large")
		}
		b = le.AppendUint16(b, offset)
		b = le.AppendUint16(b, uint16(int16(delta)))
		b = le.AppendUint16(b, basicType(c.entry.Mode))
		b = le.AppendUint16(b, uint16(len(c.name)-1))
		b = append(b, c.name...)
		count++
	}
	if count > 0 {
		le.PutUint32(b[countAt:], uint32(count-1))
	}
	return b, headers, nil
}

// headers0 is the listing offset of the last header, or 0.
func headers0(h []dirHeader) int {
	if len(h) == 0 {
		return 0
	}
	return h[len(h)-1].at
}

// dirIndex encodes the index of an extended directory inode: one entry
// for each header that starts in a later metadata block than the last
// indexed one, pointing the kernel's lookup and readdir straight at it.
func dirIndex(headers []dirHeader, base uint64, m *metaWriter) ([]byte, int) {
	le := binary.LittleEndian
	var b []byte
	count := 0
	lastBlock := base / metadataSize
	for _, h := range headers {
		u := base + uint64(h.at)
		if u/metadataSize == lastBlock {
			continue
		}
		lastBlock = u / metadataSize
		b = le.AppendUint32(b, uint32(h.at))
		b = le.AppendUint32(b, uint32(m.blockStart(u)))
		b = le.AppendUint32(b, uint32(len(h.name)-1))
		b = append(b, h.name...)
		count++
	}
	return b, count
}

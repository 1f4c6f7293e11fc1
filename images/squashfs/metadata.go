package squashfs

import (
	"encoding/binary"
	"fmt"
)

// metaWriter builds a table of metadata blocks in memory: each block holds
// up to 8 KiB of data, compressed when that makes it smaller, behind a
// 16-bit header (bit 15 set: stored uncompressed).
type metaWriter struct {
	c       compressor
	out     []byte   // finished blocks
	pending []byte   // data of the block being filled, < metadataSize bytes
	starts  []uint64 // offset in out of each finished block
	scratch []byte
}

func newMetaWriter(c compressor) *metaWriter { return &metaWriter{c: c} }

// ref is the reference of the next byte written: the start of its block
// (relative to the table) << 16 | its offset in the block.
func (m *metaWriter) ref() uint64 {
	return uint64(len(m.out))<<16 | uint64(len(m.pending))
}

// upos is the position of the next byte in the table's uncompressed data.
func (m *metaWriter) upos() uint64 {
	return uint64(len(m.starts))*metadataSize + uint64(len(m.pending))
}

// blockStart returns the start (relative to the table) of the block that
// holds uncompressed position u, which must be in a finished block or the
// one being filled.
func (m *metaWriter) blockStart(u uint64) uint64 {
	k := int(u / metadataSize)
	if k == len(m.starts) {
		return uint64(len(m.out))
	}
	return m.starts[k]
}

func (m *metaWriter) write(p []byte) error {
	m.pending = append(m.pending, p...)
	for len(m.pending) >= metadataSize {
		if err := m.flushBlock(m.pending[:metadataSize]); err != nil {
			return err
		}
		m.pending = append(m.pending[:0], m.pending[metadataSize:]...)
	}
	return nil
}

// finish writes the partly filled block, if any, and returns the table.
func (m *metaWriter) finish() ([]byte, error) {
	if len(m.pending) > 0 {
		if err := m.flushBlock(m.pending); err != nil {
			return nil, err
		}
		m.pending = m.pending[:0]
	}
	return m.out, nil
}

func (m *metaWriter) flushBlock(data []byte) error {
	var err error
	m.scratch, err = m.c.compress(m.scratch, data)
	if err != nil {
		return fmt.Errorf("metadata block: %w", err)
	}
	m.starts = append(m.starts, uint64(len(m.out)))
	body, hdr := m.scratch, uint16(len(m.scratch))
	if len(m.scratch) >= len(data) {
		body, hdr = data, uint16(len(data))|0x8000
	}
	m.out = binary.LittleEndian.AppendUint16(m.out, hdr)
	m.out = append(m.out, body...)
	return nil
}

// Package gpttest helps tests and fuzz targets make GPTs that pass the
// reader's checksums, so that mutation reaches the fields behind them.
package gpttest

import (
	"encoding/binary"
	"hash/crc32"
)

// FixCRCs rewrites the primary header's entry-array and header CRCs of
// the disk image in disk (512-byte sectors) to match what the header
// and the entries hold now. It leaves alone what it cannot fix: a header
// size or entry array that lies outside disk.
func FixCRCs(disk []byte) {
	const ss = 512
	if len(disk) < 2*ss {
		return
	}
	h := disk[ss : 2*ss]
	le := binary.LittleEndian
	off := le.Uint64(h[72:]) * ss
	n := uint64(le.Uint32(h[80:])) * uint64(le.Uint32(h[84:]))
	if off/ss == le.Uint64(h[72:]) && off <= uint64(len(disk)) && n <= uint64(len(disk))-off {
		le.PutUint32(h[88:], crc32.ChecksumIEEE(disk[off:off+n]))
	}
	if size := le.Uint32(h[12:]); size >= 20 && size <= ss {
		le.PutUint32(h[16:], 0)
		le.PutUint32(h[16:], crc32.ChecksumIEEE(h[:size]))
	}
}

// Disk is a disk in memory of a fixed size. Writes past its end are
// dropped, so that a seed may keep only the primary table of a disk
// whose backup lies megabytes further.
type Disk []byte

func (d Disk) WriteAt(p []byte, off int64) (int, error) {
	if off < int64(len(d)) {
		copy(d[off:], p)
	}
	return len(p), nil
}

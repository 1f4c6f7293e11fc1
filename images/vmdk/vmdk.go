// Package vmdk converts a raw disk image into a stream-optimized VMDK,
// the format AWS VM Import, VMware and VirtualBox take: a sparse extent
// whose grains are deflate-compressed, each behind a marker, followed by
// the grain tables, the grain directory and a footer, so it can be
// written and read in one pass. Only grains holding a non-zero byte are
// stored. The output is a pure function of the raw image's contents.
//
// Layout (VMware Virtual Disk Format 5.0, "Stream-Optimized Compressed
// Sparse Extents"):
//
//	sector 0        header (gdOffset = GD_AT_END)
//	sector 1..      embedded descriptor
//	then            grain marker + zlib data, padded to a sector, per stored grain
//	then            per grain table: GT marker + 512 entries (4 sectors)
//	then            GD marker + grain directory
//	then            footer marker + footer (the header with gdOffset set)
//	then            end-of-stream marker
package vmdk

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"strings"
)

const (
	sectorSize  = 512
	grainSect   = 128 // 64 KiB grains, as VMware and qemu-img write them
	grainSize   = grainSect * sectorSize
	gtEntries   = 512 // grain table entries per table
	magic       = 0x564d444b
	gdAtEnd     = ^uint64(0)
	descSectors = 20 // room reserved for the descriptor (10 KiB)

	flagNewline     = 1 << 0
	flagCompressed  = 1 << 16
	flagMarkers     = 1 << 17
	compressDeflate = 1

	markerEOS    = 0
	markerGT     = 1
	markerGD     = 2
	markerFooter = 3
)

// header is the SparseExtentHeader, little-endian, 512 bytes with padding.
type header struct {
	Magic              uint32
	Version            uint32
	Flags              uint32
	Capacity           uint64
	GrainSize          uint64
	DescriptorOffset   uint64
	DescriptorSize     uint64
	NumGTEsPerGT       uint32
	RGDOffset          uint64
	GDOffset           uint64
	OverHead           uint64
	UncleanShutdown    uint8
	SingleEndLineChar  uint8
	NonEndLineChar     uint8
	DoubleEndLineChar1 uint8
	DoubleEndLineChar2 uint8
	CompressAlgorithm  uint16
}

func newHeader(capacity uint64, gdOffset uint64) header {
	return header{
		Magic: magic, Version: 3, Flags: flagNewline | flagCompressed | flagMarkers,
		Capacity: capacity, GrainSize: grainSect, DescriptorOffset: 1, DescriptorSize: descSectors,
		NumGTEsPerGT: gtEntries, GDOffset: gdOffset, OverHead: 1 + descSectors,
		SingleEndLineChar: '\n', NonEndLineChar: ' ', DoubleEndLineChar1: '\r', DoubleEndLineChar2: '\n',
		CompressAlgorithm: compressDeflate,
	}
}

func (h header) bytes() []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, h) // a fixed-size struct cannot fail
	out := make([]byte, sectorSize)
	copy(out, b.Bytes())
	return out
}

// marker is a metadata marker: the sector count of what follows, a zero
// size (which tells it from a grain marker) and the type, in one sector.
func marker(numSectors uint64, typ uint32) []byte {
	b := make([]byte, sectorSize)
	binary.LittleEndian.PutUint64(b[0:], numSectors)
	binary.LittleEndian.PutUint32(b[12:], typ)
	return b
}

// descriptor is the embedded text descriptor. Its CID derives from the
// content so that the same raw image gives the same bytes.
func descriptor(name string, capacity uint64, cid uint32) []byte {
	cyl := capacity / (255 * 63)
	if cyl > 65535 {
		cyl = 65535
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Disk DescriptorFile\nversion=1\nencoding=\"UTF-8\"\nCID=%08x\nparentCID=ffffffff\ncreateType=\"streamOptimized\"\n\n", cid)
	fmt.Fprintf(&b, "# Extent description\nRW %d SPARSE %q\n\n", capacity, name)
	fmt.Fprintf(&b, "# The Disk Data Base\n#DDB\n\nddb.virtualHWVersion = \"4\"\nddb.adapterType = \"lsilogic\"\n")
	fmt.Fprintf(&b, "ddb.geometry.cylinders = \"%d\"\nddb.geometry.heads = \"255\"\nddb.geometry.sectors = \"63\"\n", cyl)
	out := make([]byte, descSectors*sectorSize)
	copy(out, b.String())
	return out
}

func contentID(sums []uint32) uint32 {
	h := crc32.NewIEEE()
	for _, s := range sums {
		binary.Write(h, binary.LittleEndian, s) // a hash cannot fail
	}
	return h.Sum32()
}

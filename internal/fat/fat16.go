package fat

import (
	"encoding/binary"
	"fmt"
	"io"
	"time"
)

const (
	fat16Reserved    = 4
	fat16RootEntries = 512
	fat16MinClusters = 4085 + 16 // below 4085 readers take it for FAT12
	fat16MaxClusters = 65524
)

// WriteFAT16 is Write for partitions too small for FAT32 (below about
// 33 MiB, such as the 16 MiB OEM partition), from about 2.1 MiB up: the
// same tree, timestamps and determinism, with a fixed 512-entry root
// directory.
func WriteFAT16(w io.WriterAt, size int64, files []File, volumeID uint32, label string, modTime time.Time) error {
	g, err := newFAT16Geometry(size)
	if err != nil {
		return fmt.Errorf("fat16: %w", err)
	}
	if err := write(w, g, files, volumeID, label, modTime); err != nil {
		return fmt.Errorf("fat16: %w", err)
	}
	return nil
}

// newFAT16Geometry picks the smallest cluster that keeps the count within
// FAT16's range.
func newFAT16Geometry(size int64) (fatGeometry, error) {
	if size%sectorSize != 0 || size/sectorSize > 0xffffffff {
		return fatGeometry{}, fmt.Errorf("size %d is not a whole number of sectors", size)
	}
	total := uint32(size / sectorSize)
	root := uint32(fat16RootEntries * 32 / sectorSize)
	for spc := uint32(1); spc <= 64; spc *= 2 {
		if total < fat16Reserved+root+spc {
			break
		}
		upper := (total-fat16Reserved-root)/spc + 2
		fat := (upper*2 + sectorSize - 1) / sectorSize
		if total < fat16Reserved+root+fatCount*fat {
			break
		}
		clusters := (total - fat16Reserved - root - fatCount*fat) / spc
		if clusters < fat16MinClusters {
			break
		}
		if clusters <= fat16MaxClusters {
			return fatGeometry{sectors: total, sectorsPerCluster: spc, fatSectors: fat, clusters: clusters,
				reserved: fat16Reserved, fat16: true, rootSectors: root}, nil
		}
	}
	return fatGeometry{}, fmt.Errorf("%d bytes does not fit FAT16 (about 2.1 MiB to 2 GiB)", size)
}

// writeReserved16 writes the FAT16 boot sector (no FSInfo, no backup).
func writeReserved16(w io.WriterAt, g fatGeometry, volumeID uint32, label [11]byte, _, _ uint32) error {
	b := make([]byte, int64(g.reserved)*sectorSize)
	boot := b[:sectorSize]
	copy(boot[0:], []byte{0xeb, 0x3c, 0x90})
	copy(boot[3:11], "IMGBUILD")
	le := binary.LittleEndian
	le.PutUint16(boot[0x0b:], sectorSize)
	boot[0x0d] = byte(g.sectorsPerCluster)
	le.PutUint16(boot[0x0e:], uint16(g.reserved))
	boot[0x10] = fatCount
	le.PutUint16(boot[0x11:], fat16RootEntries)
	if g.sectors < 0x10000 {
		le.PutUint16(boot[0x13:], uint16(g.sectors))
	} else {
		le.PutUint32(boot[0x20:], g.sectors)
	}
	boot[0x15] = 0xf8 // fixed disk
	le.PutUint16(boot[0x16:], uint16(g.fatSectors))
	le.PutUint16(boot[0x18:], 32)
	le.PutUint16(boot[0x1a:], 64)
	boot[0x24] = 0x80
	boot[0x26] = 0x29
	le.PutUint32(boot[0x27:], volumeID)
	copy(boot[0x2b:0x36], label[:])
	copy(boot[0x36:0x3e], "FAT16   ")
	copy(boot[0x3e:], []byte{0xeb, 0xfe}) // not bootable: loop if jumped to
	boot[510], boot[511] = 0x55, 0xaa
	if _, err := w.WriteAt(b, 0); err != nil {
		return fmt.Errorf("write boot sector: %w", err)
	}
	return nil
}

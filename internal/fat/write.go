package fat

import (
	"encoding/binary"
	"fmt"
	"io"
	"strings"
	"time"
)

const (
	fatReserved    = 32 // sectors before the first FAT, as mkfs.fat uses
	fatCount       = 2
	fatBackupBoot  = 6
	fatMinClusters = 65525 + 16 // below 65525 every reader takes it for FAT16
	fatEOC         = 0x0fffffff
	attrVolumeID   = 0x08
	attrDirectory  = 0x10
	attrArchive    = 0x20
)

// fatGeometry is the shape of a FAT32 file system.
type fatGeometry struct {
	sectors           uint32 // total
	sectorsPerCluster uint32
	fatSectors        uint32 // per FAT
	clusters          uint32 // data clusters, numbered from 2
	reserved          uint32 // sectors before the first FAT
	// fat16 file systems keep the root directory in rootSectors fixed
	// sectors after the FATs instead of in clusters.
	fat16       bool
	rootSectors uint32
}

func (g fatGeometry) clusterBytes() int64 { return int64(g.sectorsPerCluster) * sectorSize }
func (g fatGeometry) dataStart() int64 {
	return int64(g.reserved+fatCount*g.fatSectors+g.rootSectors) * sectorSize
}

// rootStart is where a FAT16 root directory starts.
func (g fatGeometry) rootStart() int64 { return int64(g.reserved+fatCount*g.fatSectors) * sectorSize }

// eoc is the end-of-chain FAT entry.
func (g fatGeometry) eoc() uint32 {
	if g.fat16 {
		return 0xffff
	}
	return fatEOC
}
func (g fatGeometry) clusterOffset(c uint32) int64 {
	return g.dataStart() + int64(c-2)*g.clusterBytes()
}

// newFATGeometry picks the largest cluster (up to 4 KiB) that still gives
// FAT32 enough clusters, and a FAT large enough for all of them (the FAT
// is sized for the clusters the whole area after the reserved sectors
// could hold, so it is never too small).
func newFATGeometry(size int64) (fatGeometry, error) {
	if size%sectorSize != 0 || size/sectorSize > 0xffffffff {
		return fatGeometry{}, fmt.Errorf("size %d is not a whole number of sectors below 2 TiB", size)
	}
	total := uint32(size / sectorSize)
	for spc := uint32(8); spc >= 1; spc /= 2 {
		if total < fatReserved+spc {
			continue
		}
		upper := (total-fatReserved)/spc + 2
		fat := (upper*4 + sectorSize - 1) / sectorSize
		if total < fatReserved+fatCount*fat {
			continue
		}
		clusters := (total - fatReserved - fatCount*fat) / spc
		if clusters+2 > fat*(sectorSize/4) {
			return fatGeometry{}, fmt.Errorf("internal error: FAT of %d sectors for %d clusters", fat, clusters)
		}
		if clusters >= fatMinClusters && clusters < 0x0ffffff5 {
			return fatGeometry{sectors: total, sectorsPerCluster: spc, fatSectors: fat, clusters: clusters, reserved: fatReserved}, nil
		}
	}
	return fatGeometry{}, fmt.Errorf("%d bytes is too small for FAT32 (it needs about 33 MiB)", size)
}

// Write writes a FAT32 file system of size bytes holding files to w
// (offset 0 is the file system's first sector). Every timestamp comes from
// modTime or the file's ModTime and the volume ID from the caller, so the
// same inputs give the same bytes. Directories are sorted by name; each
// file's clusters are contiguous.
func Write(w io.WriterAt, size int64, files []File, volumeID uint32, label string, modTime time.Time) error {
	g, err := newFATGeometry(size)
	if err != nil {
		return fmt.Errorf("esp: %w", err)
	}
	return write(w, g, files, volumeID, label, modTime)
}

func write(w io.WriterAt, g fatGeometry, files []File, volumeID uint32, label string, modTime time.Time) error {
	labelBytes, err := volumeLabel(label)
	if err != nil {
		return fmt.Errorf("esp: %w", err)
	}
	root, err := buildTree(files, modTime)
	if err != nil {
		return fmt.Errorf("esp: %w", err)
	}
	fat := make([]uint32, g.clusters+2)
	fat[0], fat[1] = 0x0ffffff8, fatEOC
	if g.fat16 {
		fat[0], fat[1] = 0xfff8, 0xffff
	}
	a := &allocator{g: g, fat: fat, next: 2}
	if err := a.allocateTree(root, true, label != ""); err != nil {
		return fmt.Errorf("esp: %w", err)
	}
	writeBoot := writeReserved
	if g.fat16 {
		writeBoot = writeReserved16
	}
	if err := writeBoot(w, g, volumeID, labelBytes, g.clusters-(a.next-2), a.next); err != nil {
		return fmt.Errorf("esp: %w", err)
	}
	if err := writeFATs(w, g, fat); err != nil {
		return fmt.Errorf("esp: %w", err)
	}
	if err := writeTree(w, g, root, nil, labelBytes, label != ""); err != nil {
		return fmt.Errorf("esp: %w", err)
	}
	return nil
}

// volumeLabel pads the label to 11 upper-case characters.
func volumeLabel(label string) ([11]byte, error) {
	var b [11]byte
	if label == "" {
		copy(b[:], "NO NAME    ")
		return b, nil
	}
	if len(label) > 11 {
		return b, fmt.Errorf("volume label %q longer than 11 characters", label)
	}
	for _, c := range label {
		if c != ' ' && !isShortChar(c) {
			return b, fmt.Errorf("volume label %q: character %q not allowed (upper case 8.3 characters only)", label, c)
		}
	}
	copy(b[:], fmt.Sprintf("%-11s", label))
	return b, nil
}

// allocator hands out contiguous cluster runs in a fixed order: root
// first, then each directory's children in name order, depth first.
type allocator struct {
	g    fatGeometry
	fat  []uint32
	next uint32
}

func (a *allocator) allocate(bytes int64, what string) (first, count uint32, err error) {
	if bytes == 0 {
		return 0, 0, nil
	}
	n := (bytes + a.g.clusterBytes() - 1) / a.g.clusterBytes()
	if int64(a.next)+n > int64(a.g.clusters)+2 {
		return 0, 0, fmt.Errorf("%s (%d bytes) does not fit: the file system has %d bytes of %d-byte clusters, %d left",
			what, bytes, int64(a.g.clusters)*a.g.clusterBytes(), a.g.clusterBytes(), (int64(a.g.clusters)+2-int64(a.next))*a.g.clusterBytes())
	}
	first = a.next
	for c := first; c < first+uint32(n); c++ {
		a.fat[c] = c + 1
	}
	a.fat[first+uint32(n)-1] = a.g.eoc()
	a.next += uint32(n)
	return first, uint32(n), nil
}

func (a *allocator) allocateTree(dir *node, isRoot, hasLabel bool) error {
	var err error
	if isRoot && a.g.fat16 {
		if n := dir.dirEntries(true, hasLabel); int64(n)*32 > int64(a.g.rootSectors)*sectorSize {
			return fmt.Errorf("root directory: %d entries, FAT16 holds %d", n, a.g.rootSectors*sectorSize/32)
		}
	} else if isRoot {
		bytes := max(int64(dir.dirEntries(true, hasLabel))*32, 1)
		if dir.cluster, dir.clusters, err = a.allocate(bytes, "root directory"); err != nil {
			return err
		}
	}
	for _, c := range dir.children {
		bytes, what := int64(c.dirEntries(false, false))*32, "directory "+c.name
		if !c.isDir() {
			bytes, what = c.file.size(), c.file.Path
		}
		if c.cluster, c.clusters, err = a.allocate(bytes, what); err != nil {
			return err
		}
	}
	for _, c := range dir.children {
		if c.isDir() {
			if err := a.allocateTree(c, false, false); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeReserved writes the boot sector, FSInfo and their backups.
func writeReserved(w io.WriterAt, g fatGeometry, volumeID uint32, label [11]byte, free, nextFree uint32) error {
	b := make([]byte, fatReserved*sectorSize)
	boot := b[:sectorSize]
	copy(boot[0:], []byte{0xeb, 0x58, 0x90})
	copy(boot[3:11], "IMGBUILD")
	le := binary.LittleEndian
	le.PutUint16(boot[0x0b:], sectorSize)
	boot[0x0d] = byte(g.sectorsPerCluster)
	le.PutUint16(boot[0x0e:], fatReserved)
	boot[0x10] = fatCount
	boot[0x15] = 0xf8 // fixed disk
	le.PutUint16(boot[0x18:], 32)
	le.PutUint16(boot[0x1a:], 64)
	le.PutUint32(boot[0x20:], g.sectors)
	le.PutUint32(boot[0x24:], g.fatSectors)
	le.PutUint32(boot[0x2c:], 2) // root directory cluster
	le.PutUint16(boot[0x30:], 1) // FSInfo sector
	le.PutUint16(boot[0x32:], fatBackupBoot)
	boot[0x40] = 0x80
	boot[0x42] = 0x29
	le.PutUint32(boot[0x43:], volumeID)
	copy(boot[0x47:0x52], label[:])
	copy(boot[0x52:0x5a], "FAT32   ")
	// Not bootable: loop forever if a BIOS ever jumps here.
	copy(boot[0x5a:], []byte{0xeb, 0xfe})
	boot[510], boot[511] = 0x55, 0xaa

	info := b[sectorSize : 2*sectorSize]
	le.PutUint32(info[0:], 0x41615252)
	le.PutUint32(info[484:], 0x61417272)
	le.PutUint32(info[488:], free)
	le.PutUint32(info[492:], nextFree)
	le.PutUint32(info[508:], 0xaa550000)

	copy(b[fatBackupBoot*sectorSize:], b[:2*sectorSize])
	if _, err := w.WriteAt(b, 0); err != nil {
		return fmt.Errorf("write boot sectors: %w", err)
	}
	return nil
}

func writeFATs(w io.WriterAt, g fatGeometry, fat []uint32) error {
	b := make([]byte, int64(g.fatSectors)*sectorSize)
	for i, v := range fat {
		if g.fat16 {
			binary.LittleEndian.PutUint16(b[2*i:], uint16(v))
		} else {
			binary.LittleEndian.PutUint32(b[4*i:], v)
		}
	}
	for i := range int64(fatCount) {
		if _, err := w.WriteAt(b, int64(g.reserved)*sectorSize+i*int64(len(b))); err != nil {
			return fmt.Errorf("write FAT %d: %w", i+1, err)
		}
	}
	return nil
}

// writeTree writes directory dir (its entries) and, recursively, its
// children's contents.
func writeTree(w io.WriterAt, g fatGeometry, dir, parent *node, label [11]byte, hasLabel bool) error {
	size, off := int64(dir.clusters)*g.clusterBytes(), g.clusterOffset(dir.cluster)
	if parent == nil && g.fat16 {
		size, off = int64(g.rootSectors)*sectorSize, g.rootStart()
	}
	buf := make([]byte, size)
	var pos int
	put := func(e [32]byte) { copy(buf[pos:], e[:]); pos += 32 }
	if parent == nil {
		if hasLabel {
			put(shortEntry(label, attrVolumeID, 0, 0, dir.mtime))
		}
	} else {
		// ".." of a first-level directory points to cluster 0, not to the
		// root's cluster: the FAT spec says so and fsck.fat checks it.
		parentCluster := parent.cluster
		if parent.isRoot() {
			parentCluster = 0
		}
		put(shortEntry(dotName("."), attrDirectory, dir.cluster, 0, dir.mtime))
		put(shortEntry(dotName(".."), attrDirectory, parentCluster, 0, parent.mtime))
	}
	for _, c := range dir.children {
		if c.long {
			for _, e := range lfnEntries(c.name, c.short) {
				put(e)
			}
		}
		attr, size := byte(attrDirectory), uint32(0)
		if !c.isDir() {
			attr, size = attrArchive, uint32(c.file.size())
		}
		put(shortEntry(c.short, attr, c.cluster, size, c.mtime))
	}
	if _, err := w.WriteAt(buf, off); err != nil {
		return fmt.Errorf("write directory %q: %w", dir.name, err)
	}
	for _, c := range dir.children {
		var err error
		if c.isDir() {
			err = writeTree(w, g, c, dir, label, false)
		} else {
			err = writeFile(w, g, c)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// isRoot: only the root has no name.
func (n *node) isRoot() bool { return n.name == "" }

func writeFile(w io.WriterAt, g fatGeometry, n *node) error {
	f := n.file
	if f.size() == 0 {
		return nil
	}
	off := g.clusterOffset(n.cluster)
	if f.Open == nil {
		if _, err := w.WriteAt(f.Data, off); err != nil {
			return fmt.Errorf("write %s: %w", f.Path, err)
		}
		return nil
	}
	r, err := f.Open()
	if err != nil {
		return fmt.Errorf("open %s: %w", f.Path, err)
	}
	defer r.Close()
	copied, err := io.Copy(io.NewOffsetWriter(w, off), io.LimitReader(r, f.Size+1))
	if err != nil {
		return fmt.Errorf("write %s: %w", f.Path, err)
	}
	if copied != f.Size {
		return fmt.Errorf("write %s: got %d bytes, Size says %d", f.Path, copied, f.Size)
	}
	return nil
}

func dotName(s string) [11]byte {
	var b [11]byte
	copy(b[:], s+strings.Repeat(" ", 11-len(s)))
	return b
}

func shortEntry(name [11]byte, attr byte, cluster, size uint32, t time.Time) [32]byte {
	var e [32]byte
	copy(e[0:11], name[:])
	e[11] = attr
	date, clock, tenth := dosTime(t)
	le := binary.LittleEndian
	e[13] = tenth
	le.PutUint16(e[14:], clock)
	le.PutUint16(e[16:], date)
	le.PutUint16(e[18:], date)
	le.PutUint16(e[20:], uint16(cluster>>16))
	le.PutUint16(e[22:], clock)
	le.PutUint16(e[24:], date)
	le.PutUint16(e[26:], uint16(cluster))
	le.PutUint32(e[28:], size)
	return e
}

// dosTime encodes t (in UTC, clamped to the FAT range 1980-2107).
func dosTime(t time.Time) (date, clock uint16, tenth byte) {
	t = t.UTC()
	if t.Year() < 1980 {
		t = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	if t.Year() > 2107 {
		t = time.Date(2107, 12, 31, 23, 59, 58, 0, time.UTC)
	}
	date = uint16(t.Year()-1980)<<9 | uint16(t.Month())<<5 | uint16(t.Day())
	clock = uint16(t.Hour())<<11 | uint16(t.Minute())<<5 | uint16(t.Second()/2)
	tenth = byte(t.Second()%2*100 + t.Nanosecond()/10_000_000)
	return date, clock, tenth
}

// Content is Write as a Partition.Content.
func Content(size int64, files []File, volumeID uint32, label string, modTime time.Time) func(io.WriterAt) error {
	return func(w io.WriterAt) error { return Write(w, size, files, volumeID, label, modTime) }
}

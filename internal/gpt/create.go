package gpt

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"strings"

	"github.com/google/uuid"
)

const (
	// newEntries and newEntrySize are the usual table (sgdisk's, the
	// kernel's expectation): 128 entries of 128 bytes, 16 KiB.
	newEntries   = 128
	newEntrySize = 128
	// alignBytes starts partitions at 1 MiB, as partitioning tools do.
	alignBytes = 1 << 20
)

// New describes a partition Create makes; the last one may have
// LastLBA 0 to fill the disk.
type New struct {
	Type, Unique string // GUIDs as the kernel prints them
	Name         string
	FirstLBA     uint64 // 0: the first 1 MiB-aligned free sector
	LastLBA      uint64 // 0: the last usable sector
}

// Create writes a protective MBR and a fresh GPT (primary and backup)
// with the given partitions on a disk of diskSectors sectors, and returns
// the table as Read would. The primary is written before the backup:
// stage-1 only reads the primary, and a crash before the backup leaves a
// table that Read accepts and sgdisk repairs. Nothing outside the MBR,
// the two tables and their headers is written.
func Create(w io.WriterAt, sectorSize int64, diskSectors uint64, diskGUID string, parts []New) (*Table, error) {
	es := uint64(newEntries*newEntrySize) / uint64(sectorSize)
	if sectorSize < 512 || diskSectors < 2*es+3+uint64(2*alignBytes/sectorSize) {
		return nil, fmt.Errorf("gpt: disk of %d sectors of %d bytes too small", diskSectors, sectorSize)
	}
	t := &Table{SectorSize: sectorSize, entries: make([]byte, newEntries*newEntrySize)}
	h := &t.Header
	h.CurrentLBA, h.BackupLBA = 1, diskSectors-1
	h.EntriesLBA, h.NumEntries, h.EntrySize = 2, newEntries, newEntrySize
	h.FirstUsableLBA = 2 + es
	h.LastUsableLBA = diskSectors - 2 - es
	if err := putGUID(h.DiskGUID[:], diskGUID); err != nil {
		return nil, fmt.Errorf("gpt: disk GUID: %w", err)
	}
	if err := t.putEntries(parts); err != nil {
		return nil, err
	}
	h.raw = make([]byte, minHeaderSize)
	copy(h.raw, headerSignature)
	le := binary.LittleEndian
	le.PutUint32(h.raw[8:], 0x00010000) // revision 1.0
	le.PutUint32(h.raw[12:], minHeaderSize)
	le.PutUint64(h.raw[40:], h.FirstUsableLBA)
	copy(h.raw[56:72], h.DiskGUID[:])
	le.PutUint32(h.raw[80:], h.NumEntries)
	le.PutUint32(h.raw[84:], h.EntrySize)

	crc := crc32.ChecksumIEEE(t.entries)
	if err := t.writeAt(w, protectiveMBR(sectorSize, diskSectors), 0); err != nil {
		return nil, fmt.Errorf("gpt: write MBR: %w", err)
	}
	for _, c := range []struct {
		what            string
		header, entries uint64
		current, altLBA uint64
	}{
		{"primary", 1, 2, 1, h.BackupLBA},
		{"backup", h.BackupLBA, h.LastUsableLBA + 1, h.BackupLBA, 1},
	} {
		if err := t.writeAt(w, t.entries, c.entries); err != nil {
			return nil, fmt.Errorf("gpt: write %s entries: %w", c.what, err)
		}
		if err := t.writeAt(w, t.headerBytes(c.current, c.altLBA, c.entries, crc), c.header); err != nil {
			return nil, fmt.Errorf("gpt: write %s header: %w", c.what, err)
		}
	}
	h.raw = t.headerBytes(1, h.BackupLBA, 2, crc)[:minHeaderSize]
	return t, nil
}

// putEntries fills the entry array, checking that partitions lie in the
// usable area in order without overlapping.
func (t *Table) putEntries(parts []New) error {
	if len(parts) > newEntries {
		return fmt.Errorf("gpt: %d partitions, at most %d", len(parts), newEntries)
	}
	align := uint64(alignBytes / t.SectorSize)
	next := (t.Header.FirstUsableLBA + align - 1) / align * align
	for i, p := range parts {
		first, last := p.FirstLBA, p.LastLBA
		if first == 0 {
			first = next
		}
		if last == 0 {
			last = t.Header.LastUsableLBA
		}
		if first < next || last < first || last > t.Header.LastUsableLBA {
			return fmt.Errorf("gpt: partition %d (%s): sectors %d-%d outside the free area %d-%d", i+1, p.Name, first, last, next, t.Header.LastUsableLBA)
		}
		e := t.entries[i*newEntrySize : (i+1)*newEntrySize]
		if err := putGUID(e[0:16], p.Type); err != nil {
			return fmt.Errorf("gpt: partition %d type: %w", i+1, err)
		}
		if err := putGUID(e[16:32], p.Unique); err != nil {
			return fmt.Errorf("gpt: partition %d GUID: %w", i+1, err)
		}
		binary.LittleEndian.PutUint64(e[32:], first)
		binary.LittleEndian.PutUint64(e[40:], last)
		if err := encodeName(e[56:entryNameEnd], p.Name); err != nil {
			return err
		}
		next = last + 1
	}
	return nil
}

// putGUID stores a GUID string in the on-disk mixed-endian order that
// GUID.String reads.
func putGUID(b []byte, s string) error {
	u, err := uuid.Parse(strings.TrimSpace(s))
	if err != nil {
		return err
	}
	copy(b, []byte{u[3], u[2], u[1], u[0], u[5], u[4], u[7], u[6]})
	copy(b[8:16], u[8:16])
	return nil
}

// protectiveMBR is sector 0: one 0xEE partition covering the disk (or
// as much of it as 32 bits can say).
func protectiveMBR(sectorSize int64, diskSectors uint64) []byte {
	m := make([]byte, sectorSize)
	p := m[446:462]
	p[1], p[2] = 0x00, 0x02 // CHS of LBA 1
	p[4] = 0xEE
	p[5], p[6], p[7] = 0xFF, 0xFF, 0xFF
	binary.LittleEndian.PutUint32(p[8:], 1)
	binary.LittleEndian.PutUint32(p[12:], uint32(min(diskSectors-1, 0xFFFFFFFF)))
	m[510], m[511] = 0x55, 0xAA
	return m
}

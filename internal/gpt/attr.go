package gpt

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
)

// ReadWriterAt is a disk the attribute writer reads the backup header
// from and writes both tables to.
type ReadWriterAt interface {
	io.ReaderAt
	io.WriterAt
}

// SetAttributes replaces the attribute bits of the given partitions (by
// number) in both GPT copies, recomputing the entry array and header
// CRCs. The backup is written before the primary, as GrowLast does, so
// a crash in between leaves a valid primary (old bits) that firmware and
// tools prefer; everything else in the entries stays byte for byte.
func (t *Table) SetAttributes(rw ReadWriterAt, attrs map[int]uint64) error {
	for n, a := range attrs {
		if n < 1 || n > int(t.Header.NumEntries) {
			return fmt.Errorf("gpt: set attributes: no partition entry %d", n)
		}
		off := (n - 1) * int(t.Header.EntrySize)
		var typ GUID
		copy(typ[:], t.entries[off:off+16])
		if typ.IsZero() {
			return fmt.Errorf("gpt: set attributes: partition %d is unused", n)
		}
		binary.LittleEndian.PutUint64(t.entries[off+48:], a)
	}
	entriesCRC := crc32.ChecksumIEEE(t.entries)
	backupSector := make([]byte, t.SectorSize)
	if _, err := rw.ReadAt(backupSector, int64(t.Header.BackupLBA)*t.SectorSize); err != nil {
		return fmt.Errorf("gpt: read backup header: %w", err)
	}
	backupHdr, err := parseHeader(backupSector)
	if err != nil {
		return fmt.Errorf("gpt: backup header at LBA %d: %w", t.Header.BackupLBA, err)
	}
	backup := t.headerBytes(t.Header.BackupLBA, t.Header.CurrentLBA, backupHdr.EntriesLBA, entriesCRC)
	primary := t.headerBytes(t.Header.CurrentLBA, t.Header.BackupLBA, t.Header.EntriesLBA, entriesCRC)
	if err := t.writeAt(rw, t.entries, backupHdr.EntriesLBA); err != nil {
		return fmt.Errorf("gpt: write backup entries: %w", err)
	}
	if err := t.writeAt(rw, backup, t.Header.BackupLBA); err != nil {
		return fmt.Errorf("gpt: write backup header: %w", err)
	}
	if err := t.writeAt(rw, t.entries, t.Header.EntriesLBA); err != nil {
		return fmt.Errorf("gpt: write primary entries: %w", err)
	}
	if err := t.writeAt(rw, primary, t.Header.CurrentLBA); err != nil {
		return fmt.Errorf("gpt: write primary header: %w", err)
	}
	return nil
}

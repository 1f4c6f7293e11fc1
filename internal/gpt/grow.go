package gpt

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
)

// Grown describes the partition GrowLast changed.
type Grown struct {
	Entry      Entry  // the entry after growing
	OldLastLBA uint64 // its last LBA before
}

// GrowLast moves the backup GPT to the last sector of a disk of diskSectors
// sectors and grows the partition that ends last to the new last usable
// LBA. Everything else (GUIDs, names, attributes, other entries) is kept.
// The backup is written before the primary, so a crash in between leaves a
// valid primary that still describes the old layout.
func (t *Table) GrowLast(w io.WriterAt, diskSectors uint64) (Grown, error) {
	es := t.entrySectors()
	if diskSectors < 2*es+4 {
		return Grown{}, fmt.Errorf("gpt: disk of %d sectors too small", diskSectors)
	}
	backupLBA := diskSectors - 1
	backupEntriesLBA := backupLBA - es
	lastUsable := backupEntriesLBA - 1
	if lastUsable < t.Header.LastUsableLBA {
		return Grown{}, fmt.Errorf("gpt: disk shrank: last usable LBA %d < %d", lastUsable, t.Header.LastUsableLBA)
	}
	idx, last, err := t.lastEntry()
	if err != nil {
		return Grown{}, err
	}
	g := Grown{OldLastLBA: last.LastLBA}
	last.LastLBA = lastUsable
	g.Entry = last
	binary.LittleEndian.PutUint64(t.entries[idx*int(t.Header.EntrySize)+40:], lastUsable)

	t.Header.LastUsableLBA = lastUsable
	t.Header.BackupLBA = backupLBA
	entriesCRC := crc32.ChecksumIEEE(t.entries)

	primary := t.headerBytes(1, backupLBA, t.Header.EntriesLBA, entriesCRC)
	backup := t.headerBytes(backupLBA, 1, backupEntriesLBA, entriesCRC)
	if err := t.writeAt(w, t.entries, backupEntriesLBA); err != nil {
		return Grown{}, fmt.Errorf("gpt: write backup entries: %w", err)
	}
	if err := t.writeAt(w, backup, backupLBA); err != nil {
		return Grown{}, fmt.Errorf("gpt: write backup header: %w", err)
	}
	if err := t.writeAt(w, t.entries, t.Header.EntriesLBA); err != nil {
		return Grown{}, fmt.Errorf("gpt: write primary entries: %w", err)
	}
	if err := t.writeAt(w, primary, 1); err != nil {
		return Grown{}, fmt.Errorf("gpt: write primary header: %w", err)
	}
	if err := t.fixProtectiveMBR(w, diskSectors); err != nil {
		return Grown{}, err
	}
	return g, nil
}

// Last returns the partition that ends last, the one GrowLast grows.
func (t *Table) Last() (Entry, error) {
	_, e, err := t.lastEntry()
	return e, err
}

// lastEntry finds the used entry with the highest last LBA.
func (t *Table) lastEntry() (int, Entry, error) {
	entries := t.Entries()
	if len(entries) == 0 {
		return 0, Entry{}, fmt.Errorf("gpt: no partitions")
	}
	last := entries[0]
	for _, e := range entries[1:] {
		if e.LastLBA > last.LastLBA {
			last = e
		}
	}
	return last.Number - 1, last, nil
}

// headerBytes renders a header sector for the primary or the backup copy.
func (t *Table) headerBytes(current, alternate, entriesLBA uint64, entriesCRC uint32) []byte {
	le := binary.LittleEndian
	h := make([]byte, t.SectorSize)
	copy(h, t.Header.raw)
	le.PutUint64(h[24:], current)
	le.PutUint64(h[32:], alternate)
	le.PutUint64(h[48:], t.Header.LastUsableLBA)
	le.PutUint64(h[72:], entriesLBA)
	le.PutUint32(h[88:], entriesCRC)
	le.PutUint32(h[16:], headerCRC(h[:len(t.Header.raw)]))
	return h
}

func (t *Table) writeAt(w io.WriterAt, b []byte, lba uint64) error {
	_, err := w.WriteAt(b, int64(lba)*t.SectorSize)
	return err
}

// fixProtectiveMBR makes the 0xEE partition of a protective MBR cover the
// grown disk, as sgdisk does; a hybrid or missing MBR is left alone.
func (t *Table) fixProtectiveMBR(w io.WriterAt, diskSectors uint64) error {
	r, ok := w.(io.ReaderAt)
	if !ok {
		return nil
	}
	mbr := make([]byte, 512)
	if _, err := r.ReadAt(mbr, 0); err != nil {
		return fmt.Errorf("gpt: read MBR: %w", err)
	}
	if mbr[510] != 0x55 || mbr[511] != 0xAA || mbr[446+4] != 0xEE {
		return nil
	}
	size := diskSectors - 1
	if size > 0xFFFFFFFF {
		size = 0xFFFFFFFF
	}
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], uint32(size))
	if _, err := w.WriteAt(b[:], 446+12); err != nil {
		return fmt.Errorf("gpt: write MBR: %w", err)
	}
	return nil
}

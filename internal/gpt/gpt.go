// Package gpt reads a GUID partition table and changes it in place: it
// grows the last partition to the end of the disk (GrowLast: stage-1
// grows ROOT), rewrites partitions' attribute bits in both copies
// (SetAttributes: the update agent marks the USR slots), and writes a
// fresh table (Create: stage-1's one-partition table on a blank PXE root
// disk). It is the one GPT reader of the on-image programs (blockdev
// finds partitions by PARTUUID with it, the PXE installer the written
// disk's OEM partition) and images/esp reads an image's ESP with it on
// the build host. A change keeps every byte it does not need to change (GUIDs,
// names, other attributes) exactly as it found them.
package gpt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

const (
	headerSignature = "EFI PART"
	minHeaderSize   = 92
	minEntrySize    = 128
	maxEntriesBytes = 1 << 20 // a sanity limit; sgdisk's default is 16 KiB
)

// Header holds the GPT header fields stage-1 uses or rewrites.
type Header struct {
	CurrentLBA     uint64
	BackupLBA      uint64
	FirstUsableLBA uint64
	LastUsableLBA  uint64
	DiskGUID       GUID
	EntriesLBA     uint64
	NumEntries     uint32
	EntrySize      uint32
	raw            []byte // the header sector, kept for fields we do not model
}

// Entry is one used partition entry. Number is 1-based, as in /dev/vda3.
type Entry struct {
	Number     int
	Type       GUID
	Unique     GUID
	FirstLBA   uint64
	LastLBA    uint64
	Attributes uint64
	Name       string // the partition name (UTF-16LE on disk)
}

// Table is a GPT read from a disk: its primary header and the raw entry
// array (so that rewriting it keeps names and unknown bytes).
type Table struct {
	SectorSize int64
	Header     Header
	entries    []byte
}

// ErrNoGPT means the disk has no valid primary GPT header.
var ErrNoGPT = errors.New("gpt: no GPT header")

// Read reads and checks the primary GPT of a disk with the given logical
// sector size.
func Read(r io.ReaderAt, sectorSize int64) (*Table, error) {
	sector := make([]byte, sectorSize)
	if _, err := r.ReadAt(sector, sectorSize); err != nil {
		return nil, fmt.Errorf("gpt: read header: %w", err)
	}
	h, err := parseHeader(sector)
	if err != nil {
		return nil, err
	}
	entries := make([]byte, int64(h.NumEntries)*int64(h.EntrySize))
	if _, err := r.ReadAt(entries, int64(h.EntriesLBA)*sectorSize); err != nil {
		return nil, fmt.Errorf("gpt: read entries: %w", err)
	}
	if got, want := crc32.ChecksumIEEE(entries), binary.LittleEndian.Uint32(sector[88:]); got != want {
		return nil, fmt.Errorf("gpt: entry array CRC %#08x, header says %#08x", got, want)
	}
	t := &Table{SectorSize: sectorSize, Header: h, entries: entries}
	// A reversed range would make every reader's size negative: stage-1
	// sized a buffer by it and panicked (FuzzInspectRootDisk's seed reversed-root).
	for _, e := range t.Entries() {
		if e.LastLBA < e.FirstLBA {
			return nil, fmt.Errorf("gpt: partition %d (%q) ends at LBA %d, before it starts at LBA %d", e.Number, e.Name, e.LastLBA, e.FirstLBA)
		}
	}
	return t, nil
}

func parseHeader(sector []byte) (Header, error) {
	if !bytes.Equal(sector[:8], []byte(headerSignature)) {
		return Header{}, ErrNoGPT
	}
	le := binary.LittleEndian
	size := le.Uint32(sector[12:])
	if size < minHeaderSize || int(size) > len(sector) {
		return Header{}, fmt.Errorf("gpt: header size %d out of range", size)
	}
	if got, want := headerCRC(sector[:size]), le.Uint32(sector[16:]); got != want {
		return Header{}, fmt.Errorf("gpt: header CRC %#08x, header says %#08x", got, want)
	}
	h := Header{
		CurrentLBA:     le.Uint64(sector[24:]),
		BackupLBA:      le.Uint64(sector[32:]),
		FirstUsableLBA: le.Uint64(sector[40:]),
		LastUsableLBA:  le.Uint64(sector[48:]),
		EntriesLBA:     le.Uint64(sector[72:]),
		NumEntries:     le.Uint32(sector[80:]),
		EntrySize:      le.Uint32(sector[84:]),
		raw:            append([]byte(nil), sector[:size]...),
	}
	copy(h.DiskGUID[:], sector[56:72])
	if h.EntrySize < minEntrySize || h.EntrySize%8 != 0 ||
		uint64(h.NumEntries)*uint64(h.EntrySize) > maxEntriesBytes {
		return Header{}, fmt.Errorf("gpt: %d entries of %d bytes not supported", h.NumEntries, h.EntrySize)
	}
	return h, nil
}

// headerCRC is the CRC32 of the header with its own CRC field zeroed.
func headerCRC(h []byte) uint32 {
	c := append([]byte(nil), h...)
	clear(c[16:20])
	return crc32.ChecksumIEEE(c)
}

// Entries returns the used entries (non-zero type GUID) in table order.
func (t *Table) Entries() []Entry {
	var out []Entry
	le := binary.LittleEndian
	for i := 0; i < int(t.Header.NumEntries); i++ {
		e := t.entries[i*int(t.Header.EntrySize):]
		var en Entry
		copy(en.Type[:], e[0:16])
		if en.Type.IsZero() {
			continue
		}
		copy(en.Unique[:], e[16:32])
		en.Number = i + 1
		en.FirstLBA = le.Uint64(e[32:])
		en.LastLBA = le.Uint64(e[40:])
		en.Attributes = le.Uint64(e[48:])
		en.Name = decodeName(e[56:entryNameEnd])
		out = append(out, en)
	}
	return out
}

// entrySectors is how many sectors the entry array covers.
func (t *Table) entrySectors() uint64 {
	n := int64(t.Header.NumEntries) * int64(t.Header.EntrySize)
	return uint64((n + t.SectorSize - 1) / t.SectorSize)
}

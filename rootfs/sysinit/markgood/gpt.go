package markgood

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
)

// GUIDString formats a GPT on-disk GUID (first three fields little
// endian) in the usual lower-case text form.
func GUIDString(b []byte) string {
	return fmt.Sprintf("%08x-%04x-%04x-%x-%x",
		binary.LittleEndian.Uint32(b[0:4]), binary.LittleEndian.Uint16(b[4:6]),
		binary.LittleEndian.Uint16(b[6:8]), b[8:10], b[10:16])
}

// FindPartUUID reads the primary GPT of a disk and returns the number
// (1-based) of the partition whose unique GUID is uuid; 0 when absent.
func FindPartUUID(disk io.ReaderAt, sectorSize int64, uuid string) (int, error) {
	hdr := make([]byte, 92)
	if _, err := disk.ReadAt(hdr, sectorSize); err != nil {
		return 0, fmt.Errorf("gpt: read header: %w", err)
	}
	if !bytes.Equal(hdr[:8], []byte("EFI PART")) {
		return 0, nil // not a GPT disk
	}
	entriesLBA := int64(binary.LittleEndian.Uint64(hdr[72:80]))
	count := int64(binary.LittleEndian.Uint32(hdr[80:84]))
	size := int64(binary.LittleEndian.Uint32(hdr[84:88]))
	if size < 128 || count > 1024 {
		return 0, fmt.Errorf("gpt: implausible entry table (%d entries of %d bytes)", count, size)
	}
	table := make([]byte, count*size)
	if _, err := disk.ReadAt(table, entriesLBA*sectorSize); err != nil {
		return 0, fmt.Errorf("gpt: read entries: %w", err)
	}
	want := strings.ToLower(uuid)
	for i := range count {
		e := table[i*size : (i+1)*size]
		if bytes.Equal(e[0:16], make([]byte, 16)) {
			continue // unused entry
		}
		if GUIDString(e[16:32]) == want {
			return int(i) + 1, nil
		}
	}
	return 0, nil
}

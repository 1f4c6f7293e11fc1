package gpt

import (
	"encoding/binary"
	"fmt"
	"unicode/utf16"
)

// entryNameEnd ends the 36 UTF-16 code units of a name (bytes 56-127 of
// an entry); longer entries keep their extra bytes for other uses.
const entryNameEnd = 128

// decodeName reads a partition name up to its first NUL.
func decodeName(b []byte) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		c := binary.LittleEndian.Uint16(b[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return string(utf16.Decode(u))
}

// encodeName writes name into the 72-byte name field b.
func encodeName(b []byte, name string) error {
	u := utf16.Encode([]rune(name))
	if 2*len(u) > len(b) {
		return fmt.Errorf("gpt: partition name %q is longer than %d UTF-16 units", name, len(b)/2)
	}
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	return nil
}

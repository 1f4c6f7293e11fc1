package main

import (
	"encoding/binary"
	"fmt"
	"io"
)

// ext4MagicOffset is where s_magic sits: the superblock starts at byte 1024
// and the magic is at offset 56 in it (ext2, ext3 and ext4 alike).
const (
	ext4MagicOffset = 1024 + 56
	ext4Magic       = 0xEF53
)

// hasExt4 reports whether the filesystem starting at off carries an
// ext2/3/4 superblock magic. A zeroed (never formatted) ROOT does not.
func hasExt4(r io.ReaderAt, off int64) (bool, error) {
	var b [2]byte
	if _, err := r.ReadAt(b[:], off+ext4MagicOffset); err != nil {
		return false, fmt.Errorf("read superblock: %w", err)
	}
	return binary.LittleEndian.Uint16(b[:]) == ext4Magic, nil
}

// Package sparse finds the data in a sparse file: the chunks of a raw
// disk image that hold a non-zero byte, skipping holes without reading
// them. The qcow2 and VMDK writers store only those chunks, and the EBS
// upload sends only those blocks.
package sparse

import (
	"errors"
	"io"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// Chunks lists, in order, the indices of the chunkSize-byte chunks of
// the first size bytes of raw that hold a non-zero byte. Holes are
// skipped with SEEK_DATA/SEEK_HOLE without reading them; allocated
// ranges are read and checked.
func Chunks(raw *os.File, size, chunkSize int64) ([]int64, error) {
	var out []int64
	buf := make([]byte, chunkSize)
	err := Ranges(raw, size, func(start, end int64) error {
		for c := start / chunkSize; c*chunkSize < end; c++ {
			if len(out) > 0 && out[len(out)-1] == c {
				continue // the previous range ended inside this chunk
			}
			n, err := raw.ReadAt(buf[:min(chunkSize, size-c*chunkSize)], c*chunkSize)
			if err != nil && err != io.EOF {
				return err
			}
			if !AllZero(buf[:n]) {
				out = append(out, c)
			}
		}
		return nil
	})
	return out, err
}

// Ranges calls fn for each allocated [start, end) range of raw's first
// size bytes, in order. Where the file system cannot report holes the
// whole file is one range.
func Ranges(raw *os.File, size int64, fn func(start, end int64) error) error {
	fd := int(raw.Fd())
	for off := int64(0); off < size; {
		start, err := unix.Seek(fd, off, unix.SEEK_DATA)
		if errors.Is(err, syscall.ENXIO) {
			return nil
		}
		if errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.EOPNOTSUPP) {
			return fn(off, size)
		}
		if err != nil {
			return err
		}
		end, err := unix.Seek(fd, start, unix.SEEK_HOLE)
		if err != nil {
			return err
		}
		end = min(end, size)
		if err := fn(start, end); err != nil {
			return err
		}
		off = end
	}
	return nil
}

// AllZero reports whether every byte of b is zero.
func AllZero(b []byte) bool {
	for len(b) >= 8 {
		if b[0]|b[1]|b[2]|b[3]|b[4]|b[5]|b[6]|b[7] != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

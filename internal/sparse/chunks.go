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
			if !IsZero(buf[:n]) {
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

// Copy copies the file at src into dst, leaving every chunk of src that
// is a hole or all zeros as a hole in dst, and sizes dst like src.
func Copy(dst *os.File, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	const chunk = 1 << 20
	chunks, err := Chunks(in, st.Size(), chunk)
	if err != nil {
		return err
	}
	buf := make([]byte, chunk)
	for _, c := range chunks {
		n, err := in.ReadAt(buf, c*chunk)
		if err != nil && err != io.EOF {
			return err
		}
		if _, err := dst.WriteAt(buf[:n], c*chunk); err != nil {
			return err
		}
	}
	return dst.Truncate(st.Size())
}

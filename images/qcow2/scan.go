package qcow2

import (
	"errors"
	"io"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/imgbuild/imgbuild/internal/sparse"
)

// dataClusters lists, in order, the indices of the raw image's clusters
// that hold a non-zero byte. Holes are skipped with SEEK_DATA/SEEK_HOLE
// without reading them; allocated ranges are read and checked.
func dataClusters(raw *os.File, size int64) ([]uint32, error) {
	var out []uint32
	buf := make([]byte, clusterSize)
	err := dataRanges(raw, size, func(start, end int64) error {
		for c := start / clusterSize; c*clusterSize < end; c++ {
			if len(out) > 0 && out[len(out)-1] == uint32(c) {
				continue // the previous range ended inside this cluster
			}
			n, err := raw.ReadAt(buf, c*clusterSize)
			if err != nil && err != io.EOF {
				return err
			}
			if !sparse.IsZero(buf[:n]) {
				out = append(out, uint32(c))
			}
		}
		return nil
	})
	return out, err
}

// dataRanges calls fn for each allocated [start, end) range of raw, in
// order. Where the file system cannot report holes the whole file is
// one range.
func dataRanges(raw *os.File, size int64, fn func(start, end int64) error) error {
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

// Package qcow2 converts a raw disk image into a qcow2 (version 3) image
// that stores only the raw image's non-zero clusters. The output is a
// pure function of the raw image's contents, so a reproducible raw image
// gives a reproducible qcow2.
package qcow2

import (
	"fmt"
	"os"

	"github.com/imgbuild/imgbuild/internal/fsutil"
	"github.com/imgbuild/imgbuild/internal/sparse"
)

// Layout constants: 64 KiB clusters and 16-bit refcounts, what qemu-img
// creates by default.
const (
	clusterBits  = 16
	clusterSize  = 1 << clusterBits
	refcountBits = 16
	sectorSize   = 512
	l2Entries    = clusterSize / 8                // entries per L2 table
	rcEntries    = clusterSize * 8 / refcountBits // refcounts per refcount block
	rtEntries    = clusterSize / 8                // entries per refcount table cluster

	// copiedFlag marks an L1 or L2 entry whose cluster has refcount 1,
	// which qemu expects of an image without snapshots.
	copiedFlag = uint64(1) << 63
	// maxClusters bounds the data index list to 32-bit entries.
	maxClusters = 1 << 32
)

// Convert writes outPath as a qcow2 image of the raw image rawPath. It
// writes a temporary file beside outPath and renames it into place. The
// virtual size is the raw image's, rounded up to a whole 512-byte sector.
func Convert(rawPath, outPath string) error {
	raw, err := os.Open(rawPath)
	if err != nil {
		return fmt.Errorf("qcow2: %w", err)
	}
	defer raw.Close()
	st, err := raw.Stat()
	if err != nil {
		return fmt.Errorf("qcow2: %w", err)
	}
	// QEMU addresses disks in 512-byte sectors and ignores a partial
	// last sector; round up like qemu-img convert so no byte is lost.
	size := ceilDiv(st.Size(), sectorSize) * sectorSize
	if (size+clusterSize-1)/clusterSize > maxClusters {
		return fmt.Errorf("qcow2: %s: %d bytes is too large", rawPath, size)
	}
	chunks, err := sparse.Chunks(raw, size, clusterSize)
	if err != nil {
		return fmt.Errorf("qcow2: scan %s: %w", rawPath, err)
	}
	data := make([]uint32, len(chunks))
	for i, c := range chunks {
		data[i] = uint32(c)
	}
	err = fsutil.Write(outPath, 0o644, func(f *os.File) error {
		return write(f, raw, newLayout(size, data))
	})
	if err != nil {
		return fmt.Errorf("qcow2: write %s: %w", outPath, err)
	}
	return nil
}

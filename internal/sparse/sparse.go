// Package sparse tells data from holes: the squashfs writer stores an
// all-zero block as a sparse block, the qcow2 and VMDK writers store
// only the chunks of a raw image that hold data (Chunks skips holes
// without reading them), the EBS upload sends only those blocks, and
// stage-1 skips writing zeros to a disk. Stage-1 imports it, so it
// stays small: the standard library and x/sys/unix.
package sparse

import "encoding/binary"

// IsZero reports whether every byte of b is zero.
func IsZero(b []byte) bool {
	// Eight bytes at a time: the compiler turns the decode into one load,
	// and the callers scan whole disk images.
	for len(b) >= 8 {
		if binary.LittleEndian.Uint64(b) != 0 {
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

package blockdev

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// System is the running kernel's tree.
var System = Tree{Sys: "/sys/block", Dev: "/dev", SectorSize: SectorSize}

// SectorSize asks the kernel for a block device's logical sector size;
// regular files (tests) count as 512-byte disks.
func SectorSize(f *os.File) (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	if st.Mode().IsRegular() {
		return 512, nil
	}
	n, err := unix.IoctlGetInt(int(f.Fd()), unix.BLKSSZGET)
	if err != nil {
		return 0, fmt.Errorf("BLKSSZGET: %w", err)
	}
	return int64(n), nil
}

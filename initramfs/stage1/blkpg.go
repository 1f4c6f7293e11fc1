package main

import (
	"errors"
	"fmt"
	"os"
	"unsafe"

	"github.com/imgbuild/imgbuild/internal/gpt"
	"golang.org/x/sys/unix"
)

// blkpgIoctl is BLKPG from <linux/fs.h>; x/sys/unix has the argument type
// but not the request number.
const blkpgIoctl = 0x1269

// blkpgPartition mirrors struct blkpg_partition (<linux/blkpg.h>).
type blkpgPartition struct {
	Start   int64
	Length  int64
	Pno     int32
	Devname [64]byte
	Volname [64]byte
	_       [4]byte
}

// kernelResize tells the kernel a partition of disk grew, without
// re-reading the whole table (BLKPG works while other partitions are in
// use; BLKRRPART does not). BLKRRPART is the fallback.
func kernelResize(disk *os.File, sectorSize int64) func(gpt.Entry) error {
	return func(e gpt.Entry) error {
		p := blkpgPartition{
			Start:  int64(e.FirstLBA) * sectorSize,
			Length: int64(e.LastLBA-e.FirstLBA+1) * sectorSize,
			Pno:    int32(e.Number),
		}
		arg := unix.BlkpgIoctlArg{
			Op:      unix.BLKPG_RESIZE_PARTITION,
			Datalen: int32(unsafe.Sizeof(p)),
			Data:    (*byte)(unsafe.Pointer(&p)),
		}
		_, _, errno := unix.Syscall(unix.SYS_IOCTL, disk.Fd(), blkpgIoctl, uintptr(unsafe.Pointer(&arg)))
		if errno == 0 {
			return nil
		}
		rrErr := unix.IoctlSetInt(int(disk.Fd()), unix.BLKRRPART, 0)
		if rrErr == nil {
			return nil
		}
		return errors.Join(fmt.Errorf("BLKPG resize partition %d: %w", e.Number, errno), fmt.Errorf("BLKRRPART: %w", rrErr))
	}
}

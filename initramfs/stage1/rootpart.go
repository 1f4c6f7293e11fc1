package main

import (
	"fmt"
	"os"

	"github.com/imgbuild/imgbuild/internal/gpt"
)

// growRoot grows ROOT, which must be the partition that ends last, to the
// end of its disk and rewrites both GPT copies. It reports whether
// anything changed; notify tells the kernel about the new size.
func growRoot(disk *os.File, sectorSize int64, rootUUID string, notify func(gpt.Entry) error) (gpt.Grown, bool, error) {
	size, err := deviceSize(disk)
	if err != nil {
		return gpt.Grown{}, false, err
	}
	tab, err := gpt.Read(disk, sectorSize)
	if err != nil {
		return gpt.Grown{}, false, err
	}
	last, err := tab.Last()
	if err != nil {
		return gpt.Grown{}, false, err
	}
	if last.Unique.String() != rootUUID {
		return gpt.Grown{}, false, fmt.Errorf("ROOT %s is not the last partition (partition %d is)", rootUUID, last.Number)
	}
	sectors := uint64(size / sectorSize)
	if tab.Header.BackupLBA == sectors-1 && last.LastLBA == tab.Header.LastUsableLBA {
		return gpt.Grown{Entry: last, OldLastLBA: last.LastLBA}, false, nil
	}
	g, err := tab.GrowLast(disk, sectors)
	if err != nil {
		return gpt.Grown{}, false, err
	}
	if err := disk.Sync(); err != nil {
		return gpt.Grown{}, false, fmt.Errorf("sync GPT: %w", err)
	}
	if err := notify(g.Entry); err != nil {
		return gpt.Grown{}, false, fmt.Errorf("tell the kernel: %w", err)
	}
	return g, true, nil
}

package main

import (
	"fmt"
	"os"

	"github.com/google/uuid"
	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/internal/blockdev"
)

// prepareRoot leaves ROOT ready to mount: on first boot (no ext4 magic) it
// grows the partition to the end of the disk and formats it. It returns
// what it did, for the console; say announces the grow and format before
// they start, so that a power cut during them is seen for what it was.
func prepareRoot(root blockdev.Partition, say func(format string, args ...any)) (string, error) {
	part, err := os.Open(root.Node)
	if err != nil {
		return "", err
	}
	ok, err := hasExt4(part, 0)
	part.Close()
	if err != nil {
		return "", fmt.Errorf("%s: %w", root.Node, err)
	}
	if ok {
		return "ext4 found on " + root.Node, nil
	}
	say("ROOT: no ext4 on %s: first boot, growing and formatting it", root.Node)

	disk, err := os.OpenFile(root.Disk, os.O_RDWR, 0)
	if err != nil {
		return "", err
	}
	defer disk.Close()
	ss, err := blockdev.SectorSize(disk)
	if err != nil {
		return "", err
	}
	g, grew, err := growRoot(disk, ss, root.UUID, kernelResize(disk, ss))
	if err != nil {
		return "", fmt.Errorf("grow: %w", err)
	}

	part, err = os.OpenFile(root.Node, os.O_RDWR, 0)
	if err != nil {
		return "", err
	}
	defer part.Close()
	size, err := deviceSize(part)
	if err != nil {
		return "", err
	}
	if want := int64(g.Entry.LastLBA-g.Entry.FirstLBA+1) * ss; size != want {
		return "", fmt.Errorf("%s is %d bytes after grow, GPT says %d", root.Node, size, want)
	}
	fsUUID, err := uuid.Parse(root.UUID)
	if err != nil {
		return "", err
	}
	used, err := mkfsExt4(part, 0, size, fsUUID, contract.ROOT.Label)
	if err != nil {
		return "", err
	}
	what := "kept its size"
	if grew {
		what = fmt.Sprintf("grew to %d MiB", size>>20)
	}
	return fmt.Sprintf("first boot: %s, formatted ext4 (%d MiB)", what, used>>20), nil
}

package markgood

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/internal/blockdev"
	"golang.org/x/sys/unix"
)

// Result says what Mark did.
type Result struct {
	// Entry is the entry now marked good, relative to the ESP
	// ("loader/entries/imgbuild-a.conf"), or "" when nothing was counted.
	Entry string
	// Device is the ESP's device node.
	Device string
}

// Mark finds the ESP from the command line (imgbuild.esp=PARTUUID=...),
// mounts it on mountpoint, renames the counted entry of imgbuild.slot
// and unmounts.
func Mark(cmdline, sysBlock, devDir, mountpoint string) (Result, error) {
	slot, ok := contract.Param(cmdline, contract.KeySlot)
	if !ok || slot == "" {
		return Result{}, fmt.Errorf("mark good: no imgbuild.slot= on the command line")
	}
	esp, ok := contract.Param(cmdline, contract.KeyESP)
	uuid, isPartUUID := strings.CutPrefix(esp, "PARTUUID=")
	if !ok || !isPartUUID || uuid == "" {
		return Result{}, fmt.Errorf("mark good: no imgbuild.esp=PARTUUID=... on the command line")
	}
	part, err := findESP(blockdev.Tree{Sys: sysBlock, Dev: devDir, SectorSize: blockdev.SectorSize}, uuid)
	if err != nil {
		return Result{}, fmt.Errorf("mark good: %w", err)
	}
	dev := part.Node
	if err := os.MkdirAll(mountpoint, 0o700); err != nil {
		return Result{}, fmt.Errorf("mark good: %w", err)
	}
	if err := unix.Mount(dev, mountpoint, "vfat", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "umask=0077"); err != nil {
		return Result{}, fmt.Errorf("mark good: mount %s: %w", dev, err)
	}
	name, renameErr := RenameEntry(filepath.Join(mountpoint, filepath.FromSlash(contract.EntriesDir)), slot)
	unix.Sync()
	if err := unix.Unmount(mountpoint, 0); err != nil && renameErr == nil {
		renameErr = fmt.Errorf("mark good: unmount %s: %w", mountpoint, err)
	}
	res := Result{Device: dev}
	if name != "" {
		res.Entry = contract.EntriesDir + "/" + name
	}
	return res, renameErr
}

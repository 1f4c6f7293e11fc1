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
	var name string
	res, err := withESP("mark good", cmdline, sysBlock, devDir, mountpoint, func(root, slot string) error {
		var err error
		name, err = RenameEntry(filepath.Join(root, filepath.FromSlash(contract.EntriesDir)), slot)
		return err
	})
	if name != "" {
		res.Entry = contract.EntriesDir + "/" + name
	}
	return res, err
}

// withESP mounts the ESP the command line names on mountpoint, runs fn
// with its root and the booted slot, syncs and unmounts.
func withESP(what, cmdline, sysBlock, devDir, mountpoint string, fn func(root, slot string) error) (Result, error) {
	slot, ok := contract.Param(cmdline, contract.KeySlot)
	if !ok || slot == "" {
		return Result{}, fmt.Errorf("%s: no imgbuild.slot= on the command line", what)
	}
	esp, ok := contract.Param(cmdline, contract.KeyESP)
	uuid, isPartUUID := strings.CutPrefix(esp, "PARTUUID=")
	if !ok || !isPartUUID || uuid == "" {
		return Result{}, fmt.Errorf("%s: no imgbuild.esp=PARTUUID=... on the command line", what)
	}
	part, err := findESP(blockdev.Tree{Sys: sysBlock, Dev: devDir, SectorSize: blockdev.SectorSize}, uuid)
	if err != nil {
		return Result{}, fmt.Errorf("%s: %w", what, err)
	}
	dev := part.Node
	if err := os.MkdirAll(mountpoint, 0o700); err != nil {
		return Result{}, fmt.Errorf("%s: %w", what, err)
	}
	if err := unix.Mount(dev, mountpoint, "vfat", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "umask=0077"); err != nil {
		return Result{}, fmt.Errorf("%s: mount %s: %w", what, dev, err)
	}
	fnErr := fn(mountpoint, slot)
	unix.Sync()
	if err := unix.Unmount(mountpoint, 0); err != nil && fnErr == nil {
		fnErr = fmt.Errorf("%s: unmount %s: %w", what, mountpoint, err)
	}
	return Result{Device: dev}, fnErr
}

//go:build linux

// Package dm sets up device-mapper targets with raw ioctls (no libdevmapper,
// no udev), for stage-1 in the initramfs.
package dm

import (
	"encoding/hex"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/imgbuild/imgbuild/contract/verity"
)

// VerityTable is the dm-verity table line for p with data and hash on dev:
// no optional arguments, so a corrupted block gives an I/O error (the
// kernel's default), not a restart.
func VerityTable(dev string, p verity.Params) string {
	salt := hex.EncodeToString(p.Salt)
	if salt == "" {
		salt = "-"
	}
	return fmt.Sprintf("1 %s %s %d %d %d %d %s %s %s", dev, dev, verity.BlockSize, verity.BlockSize,
		p.DataBlocks, p.HashStartBlock(), verity.Algorithm, hex.EncodeToString(p.RootHash), salt)
}

// CreateVerity creates a read-only dm-verity device called name over dev
// (data and hash area on the same device, as verity.Build lays them out),
// activates it and returns its path, /dev/mapper/<name>. The node is made
// with mknod, since no udev runs in the initramfs. On failure nothing is
// left behind.
func CreateVerity(name, dev string, p verity.Params) (string, error) {
	if strings.ContainsAny(name, "/ ") {
		return "", fmt.Errorf("dm: device name %q has a slash or space", name)
	}
	if len(p.RootHash) == 0 || p.DataBlocks == 0 {
		return "", fmt.Errorf("dm: verity parameters for %s lack a root hash or data blocks", name)
	}
	hdr, err := ioctl(unix.DM_DEV_CREATE, name, 0, nil)
	if err != nil {
		return "", fmt.Errorf("dm: create %s: %w", name, err)
	}
	t := target{start: 0, length: p.DataBlocks * (verity.BlockSize / 512), typ: "verity", params: VerityTable(dev, p)}
	if _, err := ioctl(unix.DM_TABLE_LOAD, name, unix.DM_READONLY_FLAG, []target{t}); err != nil {
		Remove(name)
		return "", fmt.Errorf("dm: load verity table for %s (verity %s): %w", name, t.params, err)
	}
	// DM_DEV_SUSPEND without DM_SUSPEND_FLAG resumes: it swaps in the loaded table.
	if _, err := ioctl(unix.DM_DEV_SUSPEND, name, 0, nil); err != nil {
		Remove(name)
		return "", fmt.Errorf("dm: resume %s: %w", name, err)
	}
	path := "/dev/mapper/" + name
	// A node left by an earlier device of this name may have other numbers.
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		Remove(name)
		return "", fmt.Errorf("dm: replace %s: %w", path, err)
	}
	if err := mknod(path, unix.S_IFBLK|0o400, unix.Major(hdr.Dev), unix.Minor(hdr.Dev)); err != nil {
		Remove(name)
		return "", err
	}
	return path, nil
}

// Remove deletes the device-mapper device name.
func Remove(name string) error {
	if _, err := ioctl(unix.DM_DEV_REMOVE, name, 0, nil); err != nil {
		return fmt.Errorf("dm: remove %s: %w", name, err)
	}
	return nil
}

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/internal/blockdev"
)

// pxeRootWait is how long a diskless boot waits for the disk named by
// KeyPXERoot: its driver loaded with the others, and virtio and NVMe
// disks appear within a second of that.
const pxeRootWait = 5 * time.Second

// pxeLocalRoot returns the partition node a diskless boot mounts as
// ROOT, or "" for a tmpfs: without KeyPXERoot, or when the disk it names
// is missing or holds anything but our ROOT or nothing (the line says
// why; a disk is never overwritten unless it is blank).
func pxeLocalRoot(con *console, cmdline string) string {
	dev, ok := contract.Param(cmdline, contract.KeyPXERoot)
	if !ok || dev == "" {
		return ""
	}
	t := time.Now()
	node, what, err := localRoot(dev, cmdline, pxeRootWait)
	if err != nil {
		con.printf("ROOT: not using %s (%s=): %v", dev, contract.KeyPXERoot, err)
		return ""
	}
	if what != "" {
		con.printf("ROOT: %s %s in %s", dev, what, seconds(time.Since(t)))
	}
	return node
}

// localRoot finds or makes ROOT on the whole disk dev.
func localRoot(dev, cmdline string, wait time.Duration) (node, what string, err error) {
	if inst, ok := contract.Param(cmdline, contract.KeyInstall); ok && filepath.Clean(inst) == filepath.Clean(dev) {
		return "", "", fmt.Errorf("it is also the installer's target (%s=)", contract.KeyInstall)
	}
	name := filepath.Base(dev)
	if filepath.Clean(dev) != "/dev/"+name {
		return "", "", fmt.Errorf("want a whole disk as /dev/NAME (no udev links here)")
	}
	disk, err := openRootDisk(dev, name, wait)
	if err != nil {
		return "", "", err
	}
	defer disk.Close()
	ss, err := blockdev.SectorSize(disk)
	if err != nil {
		return "", "", err
	}
	size, err := deviceSize(disk)
	if err != nil {
		return "", "", err
	}
	d, err := inspectRootDisk(disk, size, ss)
	if err != nil {
		return "", "", err
	}
	if d.blank || d.unformatted {
		if d.root, what, err = makeRoot(disk, size, ss, d); err != nil {
			return "", "", err
		}
	}
	if d.blank {
		// The kernel read the disk's (empty) table when it appeared.
		if err := unix.IoctlSetInt(int(disk.Fd()), unix.BLKRRPART, 0); err != nil {
			return "", "", fmt.Errorf("re-read partition table (BLKRRPART): %w", err)
		}
	}
	node, err = partitionNode(name, d.root.Number, wait)
	return node, what, err
}

// openRootDisk waits for dev to appear as a whole disk and opens it
// exclusively: nothing else may have it open while stage-1 decides.
func openRootDisk(dev, name string, wait time.Duration) (*os.File, error) {
	deadline := time.Now().Add(wait)
	for {
		st, err := os.Stat(dev)
		if err == nil {
			if st.Mode()&os.ModeDevice == 0 || st.Mode()&os.ModeCharDevice != 0 {
				return nil, fmt.Errorf("not a block device")
			}
			if _, err := os.Stat(filepath.Join(blockdev.System.Sys, name)); err != nil {
				return nil, fmt.Errorf("not a whole disk (no %s/%s)", blockdev.System.Sys, name)
			}
			return os.OpenFile(dev, os.O_RDWR|unix.O_EXCL, 0)
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("no such disk after %v", wait)
		}
		time.Sleep(partitionPoll)
	}
}

// partitionNode waits for the kernel's node of partition number of disk.
func partitionNode(disk string, number int, wait time.Duration) (string, error) {
	deadline := time.Now().Add(wait)
	for {
		parts, err := blockdev.System.Disk(disk)
		for _, p := range parts {
			if p.Number == number {
				return p.Node, nil
			}
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("the kernel shows no partition %d", number)
			}
			return "", fmt.Errorf("after %v: %w", wait, err)
		}
		time.Sleep(partitionPoll)
	}
}

package main

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// mountSysroot mounts ROOT read-write at /sysroot and USR read-only on
// /sysroot/usr. ROOT is mounted with noinit_itable: go-diskfs zeroes
// every inode table when it formats, but leaves the group descriptors
// in a state that the kernel's lazy-init thread reports as "Something
// is wrong with group 0" (seen under QEMU right after a first boot).
func mountSysroot(rootDev, usrDev string) error {
	if err := mount(rootMount(rootDev)); err != nil {
		return err
	}
	return mountUSR(usrDev)
}

// rootMount is ROOT's ext4 mount, on a disk boot and on a diskless boot
// with a local ROOT alike.
func rootMount(dev string) mountSpec {
	return mountSpec{dev, sysroot, "ext4", 0, "noinit_itable"}
}

// mountUSR mounts USR read-only on /sysroot/usr.
func mountUSR(usrDev string) error {
	if err := os.MkdirAll(sysroot+"/usr", 0o755); err != nil {
		return err
	}
	return mount(mountSpec{usrDev, sysroot + "/usr", "squashfs", unix.MS_RDONLY | unix.MS_NODEV, ""})
}

// checkInit fails before switch_root, while the initramfs (and a debug
// shell in it) still exists, if USR has no runnable sysinit. It reads
// the whole file: on a dm-verity USR a corrupted block of sysinit is an
// I/O error here, with a FATAL line, rather than a crash of PID 1 later
// when the kernel pages that block in.
func checkInit(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() || st.Mode()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file (%v)", path, st.Mode())
	}
	if _, err := io.Copy(io.Discard, f); err != nil {
		return fmt.Errorf("read %s: %w (see the kernel's device-mapper messages above)", path, err)
	}
	return nil
}

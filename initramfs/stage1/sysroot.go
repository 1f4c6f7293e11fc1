package main

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// mountSysroot mounts ROOT read-write at /sysroot and USR read-only on
// /sysroot/usr.
func mountSysroot(rootDev, usrDev string) error {
	if err := mount(mountSpec{rootDev, sysroot, "ext4", 0, ""}); err != nil {
		return err
	}
	if err := os.MkdirAll(sysroot+"/usr", 0o755); err != nil {
		return err
	}
	return mount(mountSpec{usrDev, sysroot + "/usr", "squashfs", unix.MS_RDONLY | unix.MS_NODEV, ""})
}

// checkInit fails before switch_root, while the initramfs (and a debug
// shell in it) still exists, if USR has no runnable sysinit.
func checkInit(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() || st.Mode()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file (%v)", path, st.Mode())
	}
	return nil
}

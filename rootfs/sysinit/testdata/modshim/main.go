// Command modshim is the /init of sysinit's QEMU test initramfs: it
// stands in for stage-1 by loading the modules of /lib/modules/load.list
// (virtio-net and the power button) and exec'ing sysinit as PID 1.
package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

const sysinit = "/usr/lib/imgbuild/sysinit"

func main() {
	if err := loadModules("/lib/modules"); err != nil {
		fmt.Fprintf(os.Stderr, "modshim: %v\n", err)
	}
	err := unix.Exec(sysinit, []string{sysinit}, os.Environ())
	fmt.Fprintf(os.Stderr, "modshim: exec %s: %v\n", sysinit, err)
	_ = unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
}

func loadModules(dir string) error {
	f, err := os.Open(filepath.Join(dir, "load.list"))
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name := strings.TrimSpace(sc.Text())
		if name == "" {
			continue
		}
		if err := load(filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	return sc.Err()
}

func load(path string) error {
	m, err := os.Open(path)
	if err != nil {
		return err
	}
	defer m.Close()
	if err := unix.FinitModule(int(m.Fd()), "", 0); err != nil && err != unix.EEXIST {
		return fmt.Errorf("load %s: %w", path, err)
	}
	return nil
}

package main

import (
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// attachLoop makes a free loop device read file read-only and returns
// its node. The loop device keeps the file open, so the initramfs copy
// of it stays in RAM after switch_root unlinks it.
func attachLoop(file string) (string, error) {
	ctl, err := os.OpenFile("/dev/loop-control", os.O_RDWR, 0)
	if err != nil {
		return "", fmt.Errorf("loop: %w (is the loop module in the initramfs?)", err)
	}
	defer ctl.Close()
	n, err := unix.IoctlRetInt(int(ctl.Fd()), unix.LOOP_CTL_GET_FREE)
	if err != nil {
		return "", fmt.Errorf("loop: LOOP_CTL_GET_FREE: %w", err)
	}
	node := fmt.Sprintf("/dev/loop%d", n)
	dev, err := openNode(node, 2*time.Second)
	if err != nil {
		return "", fmt.Errorf("loop: %w", err)
	}
	defer dev.Close()
	f, err := os.Open(file)
	if err != nil {
		return "", fmt.Errorf("loop: %w", err)
	}
	defer f.Close()
	cfg := unix.LoopConfig{Fd: uint32(f.Fd()), Size: 0}
	cfg.Info.Flags = unix.LO_FLAGS_READ_ONLY
	copy(cfg.Info.File_name[:], file)
	if err := unix.IoctlLoopConfigure(int(dev.Fd()), &cfg); err != nil {
		return "", fmt.Errorf("loop: LOOP_CONFIGURE %s on %s: %w", file, node, err)
	}
	return node, nil
}

// openNode opens a device node devtmpfs may still be creating.
func openNode(node string, wait time.Duration) (*os.File, error) {
	deadline := time.Now().Add(wait)
	for {
		f, err := os.OpenFile(node, os.O_RDONLY, 0)
		if err == nil || !os.IsNotExist(err) || time.Now().After(deadline) {
			return f, err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

//go:build linux

package dm

import (
	"bytes"
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

const controlPath = "/dev/mapper/control"

// target is one line of a device-mapper table.
type target struct {
	start, length uint64 // in 512-byte sectors
	typ, params   string
}

// ioctlBuf lays out struct dm_ioctl followed by the targets' dm_target_spec
// and parameter strings, each spec 8-byte aligned as the kernel expects.
func ioctlBuf(name string, flags uint32, targets []target) ([]byte, error) {
	if name == "" || len(name) >= unix.DM_NAME_LEN {
		return nil, fmt.Errorf("dm: device name %q must be 1 to %d bytes", name, unix.DM_NAME_LEN-1)
	}
	size := unix.SizeofDmIoctl
	for _, t := range targets {
		size += specSize(t)
	}
	// Room for the kernel's answer (names, status) beyond what we send.
	buf := make([]byte, max(size, 16<<10))
	hdr := (*unix.DmIoctl)(unsafe.Pointer(&buf[0]))
	hdr.Version = [3]uint32{unix.DM_VERSION_MAJOR, 0, 0}
	hdr.Data_size = uint32(len(buf))
	hdr.Data_start = unix.SizeofDmIoctl
	hdr.Target_count = uint32(len(targets))
	hdr.Flags = flags
	copy(hdr.Name[:], name)
	off := unix.SizeofDmIoctl
	for _, t := range targets {
		if len(t.typ) >= unix.DM_MAX_TYPE_NAME {
			return nil, fmt.Errorf("dm: target type %q too long", t.typ)
		}
		n := specSize(t)
		spec := (*unix.DmTargetSpec)(unsafe.Pointer(&buf[off]))
		spec.Sector_start = t.start
		spec.Length = t.length
		spec.Next = uint32(n)
		copy(spec.Target_type[:], t.typ)
		copy(buf[off+unix.SizeofDmTargetSpec:], t.params) // NUL from make
		off += n
	}
	return buf, nil
}

func specSize(t target) int {
	return (unix.SizeofDmTargetSpec + len(t.params) + 1 + 7) &^ 7
}

// ioctl issues one device-mapper command and returns the kernel's reply header.
func ioctl(cmd uintptr, name string, flags uint32, targets []target) (*unix.DmIoctl, error) {
	buf, err := ioctlBuf(name, flags, targets)
	if err != nil {
		return nil, err
	}
	ctl, err := openControl()
	if err != nil {
		return nil, err
	}
	defer ctl.Close()
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, ctl.Fd(), cmd, uintptr(unsafe.Pointer(&buf[0]))); errno != 0 {
		return nil, errno
	}
	hdr := *(*unix.DmIoctl)(unsafe.Pointer(&buf[0]))
	return &hdr, nil
}

// openControl opens /dev/mapper/control, creating the node if /dev has
// none (no udev in the initramfs; devtmpfs may not provide it either
// before dm_mod registers its misc device).
func openControl() (*os.File, error) {
	f, err := os.OpenFile(controlPath, os.O_RDWR, 0)
	if err == nil {
		return f, nil
	}
	if !os.IsNotExist(err) {
		return nil, fmt.Errorf("dm: %w", err)
	}
	major, minor, err := miscMinor("device-mapper")
	if err != nil {
		return nil, err
	}
	if err := mknod(controlPath, unix.S_IFCHR|0o600, major, minor); err != nil {
		return nil, err
	}
	f, err = os.OpenFile(controlPath, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("dm: %w", err)
	}
	return f, nil
}

// miscMinor finds a misc device's numbers in /proc/misc (major 10).
func miscMinor(name string) (uint32, uint32, error) {
	b, err := os.ReadFile("/proc/misc")
	if err != nil {
		return 0, 0, fmt.Errorf("dm: find %s device: %w", name, err)
	}
	for line := range bytes.Lines(b) {
		var minor uint32
		var n string
		if _, err := fmt.Sscanf(string(line), "%d %s", &minor, &n); err == nil && n == name {
			return 10, minor, nil
		}
	}
	return 0, 0, fmt.Errorf("dm: no %s in /proc/misc (is dm_mod loaded?)", name)
}

func mknod(path string, mode uint32, major, minor uint32) error {
	if err := os.MkdirAll(dirOf(path), 0o755); err != nil {
		return fmt.Errorf("dm: %w", err)
	}
	if err := unix.Mknod(path, mode, int(unix.Mkdev(major, minor))); err != nil && err != unix.EEXIST {
		return fmt.Errorf("dm: mknod %s: %w", path, err)
	}
	return nil
}

func dirOf(path string) string {
	i := len(path) - 1
	for i > 0 && path[i] != '/' {
		i--
	}
	return path[:i]
}

package confine

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"golang.org/x/sys/unix"
)

// applyView turns the process's mount namespace, which must be its own
// (the supervisor starts it with CLONE_NEWNS), into a read-only view of
// the machine: every mount read-only but /dev and /proc, which programs
// write to as devices and tunables of their own; a private /tmp; and
// each writable path bound read-write, as systemd's ProtectSystem=strict
// with ReadWritePaths= and PrivateTmp= do. Naming /tmp as writable
// shares the machine's instead.
func applyView(writable []string) error {
	// Nothing done here may reach the machine's namespace.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_SLAVE, ""); err != nil {
		return fmt.Errorf("read-only view: make mounts private: %w", err)
	}
	for _, p := range writable {
		if !filepath.IsAbs(p) {
			return fmt.Errorf("read-only view: writable %q: not an absolute path", p)
		}
		if err := os.MkdirAll(p, 0o755); err != nil {
			return fmt.Errorf("read-only view: writable %s: %w", p, err)
		}
		// A mount of its own, so that it can be read-write below a
		// read-only parent.
		if err := unix.Mount(p, p, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("read-only view: bind %s: %w", p, err)
		}
	}
	if err := setattr("/", true); err != nil {
		return err
	}
	for _, p := range []string{"/dev", "/proc"} {
		// Only a mount of its own: a plain directory's attributes are
		// its parent mount's, here the root's.
		if mountPoint(p) {
			if err := setattr(p, false); err != nil {
				return err
			}
		}
	}
	if !slices.Contains(writable, "/tmp") {
		if err := unix.Mount("tmpfs", "/tmp", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=1777"); err != nil {
			return fmt.Errorf("read-only view: private /tmp: %w", err)
		}
	}
	for _, p := range writable {
		if err := setattr(p, false); err != nil {
			return err
		}
	}
	return nil
}

// mountPoint tells whether path is a mount of its own, not a directory
// of its parent's.
func mountPoint(path string) bool {
	var a, b unix.Statx_t
	if unix.Statx(unix.AT_FDCWD, path, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_MNT_ID, &a) != nil ||
		unix.Statx(unix.AT_FDCWD, filepath.Dir(path), unix.AT_SYMLINK_NOFOLLOW, unix.STATX_MNT_ID, &b) != nil {
		return false
	}
	return a.Mnt_id != b.Mnt_id
}

// setattr makes the mounts at and below path read-only or read-write.
func setattr(path string, readOnly bool) error {
	attr := unix.MountAttr{Attr_clr: unix.MOUNT_ATTR_RDONLY}
	if readOnly {
		attr = unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}
	}
	if err := unix.MountSetattr(unix.AT_FDCWD, path, unix.AT_RECURSIVE, &attr); err != nil {
		return fmt.Errorf("read-only view: %s: %w", path, err)
	}
	return nil
}

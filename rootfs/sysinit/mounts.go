package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/imgbuild/imgbuild/rootfs/confine"
)

// mountSpec is one API filesystem PID 1 needs.
type mountSpec struct {
	target, fstype, source string
	flags                  uintptr
	data                   string
}

// apiMounts come in order: /dev/pts and /dev/shm need /dev.
var apiMounts = []mountSpec{
	{"/proc", "proc", "proc", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
	{"/sys", "sysfs", "sysfs", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
	{"/dev", "devtmpfs", "devtmpfs", unix.MS_NOSUID, "mode=0755"},
	{"/dev/pts", "devpts", "devpts", unix.MS_NOSUID | unix.MS_NOEXEC, "mode=0620,ptmxmode=0666"},
	{"/dev/shm", "tmpfs", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=1777"},
	{"/run", "tmpfs", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=0755"},
	{"/tmp", "tmpfs", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=1777"},
}

// mountAPI mounts whatever of apiMounts is not mounted yet: stage-1 moves
// some of them in, a direct kernel boot (tests) has none.
func mountAPI() error {
	mounted := map[string]bool{}
	for _, m := range apiMounts {
		if m.target != "/proc" && len(mounted) == 0 {
			// /proc is up now (or was): learn what else is.
			if b, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
				mounted = mountPoints(b)
			}
		}
		if mounted[m.target] {
			continue
		}
		if m.target == "/proc" {
			if _, err := os.Stat("/proc/self/mountinfo"); err == nil {
				continue // mounting proc again would stack a second one
			}
		}
		if err := os.MkdirAll(m.target, 0o755); err != nil {
			return fmt.Errorf("mkdir %s: %w", m.target, err)
		}
		if err := unix.Mount(m.source, m.target, m.fstype, m.flags, m.data); err != nil {
			return fmt.Errorf("mount %s on %s: %w", m.fstype, m.target, err)
		}
	}
	devLinks()
	return nil
}

// devLinks adds the /dev/fd family that shells expect; devtmpfs lacks them.
func devLinks() {
	for link, target := range map[string]string{
		"/dev/fd": "/proc/self/fd", "/dev/stdin": "/proc/self/fd/0",
		"/dev/stdout": "/proc/self/fd/1", "/dev/stderr": "/proc/self/fd/2",
	} {
		_ = os.Symlink(target, link) // exists already: fine
	}
}

// mountPoints lists the mount points in /proc/self/mountinfo contents.
func mountPoints(mountinfo []byte) map[string]bool {
	out := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(mountinfo))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) > 4 {
			out[unescapeMountinfo(f[4])] = true
		}
	}
	return out
}

// unescapeMountinfo undoes the kernel's octal escapes (\040 for space).
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			var v int
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &v); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// mountCgroup mounts cgroup2 for the services' groups; without it the
// services run unconfined by cgroups (and sysinit says so).
func mountCgroup() (string, error) {
	root := confine.CgroupRoot
	if b, err := os.ReadFile("/proc/self/mountinfo"); err == nil && mountPoints(b)[root] {
		return root, nil
	}
	if err := unix.Mount("cgroup2", root, "cgroup2", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "nsdelegate"); err != nil {
		return "", fmt.Errorf("mount cgroup2 on %s: %w (services run without limits)", root, err)
	}
	return root, nil
}

// Package confine narrows what a service may do: its capabilities (the
// bounding set and the process's own sets), no_new_privs, and a cgroup
// v2 group with its limits. sysinit applies it to every service: to a
// bare service through a re-execution of itself (ExecMain) that then
// executes the command, to a container service in its init.
package confine

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// capNames are the kernel's capabilities by number (linux/capability.h),
// without the CAP_ prefix.
var capNames = []string{"CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
	"SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
	"SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
	"SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
	"MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF",
	"CHECKPOINT_RESTORE"}

// CapNumber is the number of a capability named with or without CAP_,
// in any case.
func CapNumber(name string) (int, bool) {
	n := strings.TrimPrefix(strings.ToUpper(name), "CAP_")
	for i, c := range capNames {
		if c == n {
			return i, true
		}
	}
	return 0, false
}

// ContainerDefault is what an image service keeps unless the manifest
// lists its own: Podman's default set (Docker's without NET_RAW, MKNOD
// and AUDIT_WRITE).
var ContainerDefault = []string{"CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "NET_BIND_SERVICE",
	"SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"}

// Policy is what one service may keep.
type Policy struct {
	// Caps lists the capabilities kept; nil keeps all of them.
	Caps       []string `json:"caps,omitempty"`
	NoNewPrivs bool     `json:"no_new_privs,omitempty"`
}

// lastCap is the highest capability this kernel knows.
func lastCap() int {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return len(capNames) - 1
	}
	n := 0
	fmt.Sscanf(string(b), "%d", &n)
	return n
}

// Apply narrows the calling process, every thread of it (capabilities
// are per thread, and a Go program's next fork or exec may come from
// any): what it starts from now on gets no more.
func Apply(p Policy) error {
	if p.NoNewPrivs {
		if _, _, e := syscall.AllThreadsSyscall(syscall.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0); e != 0 {
			return fmt.Errorf("no_new_privs: %w", e)
		}
	}
	if p.Caps == nil {
		return nil
	}
	keep, err := capSet(p.Caps)
	if err != nil {
		return err
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var cur [2]unix.CapUserData
	if err := unix.Capget(&hdr, &cur[0]); err != nil {
		return fmt.Errorf("capget: %w", err)
	}
	// A process that is already a user's has no capabilities to give up
	// and may not cut the bounding set: its parent did that before it
	// became the user (DropBounding), or no_new_privs keeps setuid
	// binaries from granting any.
	if cur[0].Effective&(1<<unix.CAP_SETPCAP) != 0 {
		if err := dropBounding(keep); err != nil {
			return err
		}
	}
	var lo, hi uint32
	for n := range keep {
		if n < 32 {
			lo |= 1 << n
		} else {
			hi |= 1 << (n - 32)
		}
	}
	data := [2]unix.CapUserData{
		{Effective: cur[0].Permitted & lo, Permitted: cur[0].Permitted & lo, Inheritable: cur[0].Permitted & lo},
		{Effective: cur[1].Permitted & hi, Permitted: cur[1].Permitted & hi, Inheritable: cur[1].Permitted & hi},
	}
	if _, _, e := syscall.AllThreadsSyscall(syscall.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); e != 0 {
		return fmt.Errorf("capset: %w", e)
	}
	return nil
}

// DropBounding cuts the bounding set of every thread to caps: what the
// processes started from now on can ever hold. The caller keeps its own
// capabilities (a container's init still becomes the service's user).
func DropBounding(caps []string) error {
	keep, err := capSet(caps)
	if err != nil {
		return err
	}
	return dropBounding(keep)
}

func capSet(caps []string) (map[int]bool, error) {
	keep := map[int]bool{}
	for _, c := range caps {
		n, ok := CapNumber(c)
		if !ok {
			return nil, fmt.Errorf("capability %q: unknown", c)
		}
		keep[n] = true
	}
	return keep, nil
}

func dropBounding(keep map[int]bool) error {
	for n := 0; n <= lastCap(); n++ {
		if keep[n] {
			continue
		}
		if _, _, e := syscall.AllThreadsSyscall(syscall.SYS_PRCTL, unix.PR_CAPBSET_DROP, uintptr(n), 0); e != 0 && e != unix.EINVAL {
			return fmt.Errorf("drop %s from the bounding set: %w", capName(n), e)
		}
	}
	return nil
}

func capName(n int) string {
	if n < len(capNames) {
		return "CAP_" + capNames[n]
	}
	return fmt.Sprintf("capability %d", n)
}

// CheckCaps says which names are not capabilities, sorted.
func CheckCaps(names []string) []string {
	var bad []string
	for _, n := range names {
		if _, ok := CapNumber(n); !ok {
			bad = append(bad, n)
		}
	}
	sort.Strings(bad)
	return bad
}

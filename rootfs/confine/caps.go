// Package confine narrows what a service may do: its capabilities (the
// bounding set and the process's own sets), no_new_privs, a seccomp
// profile, a read-only view of the system, and a cgroup v2 group with
// its limits. sysinit applies it to every service through a
// re-execution of itself (ExecMain) that narrows itself, becomes the
// service's user and then executes the command: for a bare service
// started by the supervisor, for a container service by its init once
// the container's root is in place.
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
	// Caps lists the capabilities kept; nil keeps all of them, [] none
	// (so no omitempty: it would make [] nil).
	Caps       []string `json:"caps"`
	NoNewPrivs bool     `json:"no_new_privs,omitempty"`
	// Seccomp is a profile (SeccompDefault) or "" for none.
	Seccomp string `json:"seccomp,omitempty"`
	// ReadOnly makes the system read-only but for Writable (applyView);
	// the process must have a mount namespace of its own.
	ReadOnly bool     `json:"read_only,omitempty"`
	Writable []string `json:"writable,omitempty"`
	// Cred is the user the process becomes last: the rest needs root,
	// and the bounding set can be cut only before the switch.
	Cred *Cred `json:"cred,omitempty"`
}

// Cred is a user to become.
type Cred struct {
	UID    uint32   `json:"uid"`
	GID    uint32   `json:"gid"`
	Groups []uint32 `json:"groups,omitempty"`
}

// Empty tells whether p narrows nothing, so that a service needs no
// confine step (its cgroup aside).
func (p Policy) Empty() bool {
	return p.Caps == nil && !p.NoNewPrivs && (p.Seccomp == "" || p.Seccomp == "unconfined") && !p.ReadOnly
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
// any): what it starts from now on gets no more. The order matters:
// mounts and the bounding set need root's capabilities, the seccomp
// filter refuses mounts, and the user comes last.
func Apply(p Policy) error {
	if p.ReadOnly {
		if err := applyView(p.Writable); err != nil {
			return err
		}
	}
	var keep map[int]bool
	if p.Caps != nil {
		var err error
		if keep, err = capSet(p.Caps); err != nil {
			return err
		}
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var cur [2]unix.CapUserData
	if err := unix.Capget(&hdr, &cur[0]); err != nil {
		return fmt.Errorf("capget: %w", err)
	}
	// A process that is already a user's has no capabilities to give up
	// and may not cut the bounding set: no_new_privs keeps setuid
	// binaries from granting any.
	if keep != nil && cur[0].Effective&(1<<unix.CAP_SETPCAP) != 0 {
		if err := dropBounding(keep); err != nil {
			return err
		}
	}
	if p.NoNewPrivs {
		if _, _, e := syscall.AllThreadsSyscall(syscall.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0); e != 0 {
			return fmt.Errorf("no_new_privs: %w", e)
		}
	}
	if err := installSeccomp(p.Seccomp); err != nil {
		return err
	}
	if c := p.Cred; c != nil {
		if err := becomeUser(*c); err != nil {
			return err
		}
		if c.UID != 0 {
			// The switch cleared the process's own sets.
			return nil
		}
	}
	if keep == nil {
		return nil
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

// becomeUser switches every thread to the user: groups, group, then
// user, as the kernel does for exec's Credential.
func becomeUser(c Cred) error {
	groups := make([]int, len(c.Groups))
	for i, g := range c.Groups {
		groups[i] = int(g)
	}
	if err := syscall.Setgroups(groups); err != nil {
		return fmt.Errorf("setgroups: %w", err)
	}
	if err := syscall.Setgid(int(c.GID)); err != nil {
		return fmt.Errorf("setgid %d: %w", c.GID, err)
	}
	if err := syscall.Setuid(int(c.UID)); err != nil {
		return fmt.Errorf("setuid %d: %w", c.UID, err)
	}
	return nil
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

package confine

import (
	"errors"
	"fmt"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// SeccompDefault names the default profile: a deny list in the spirit of
// Docker's and Podman's, which refuses what a confined service has no
// business doing on a machine it shares (loading modules or kernels,
// mounting, new namespaces, tracing other processes, the keyring,
// setting the clock, io_uring, BPF), and allows everything else, so that
// ordinary programs run unchanged. A refused call fails with EPERM, as
// a missing capability would; clone3 fails with ENOSYS so that libc
// falls back to clone, whose namespace flags the filter can see (clone3
// passes them in memory, out of a filter's reach), as Docker does.
const SeccompDefault = "default"

// Seccomp profiles a manifest may name; "unconfined" is no filter.
var SeccompProfiles = []string{SeccompDefault, "unconfined"}

// nsFlags are clone's namespace flags the default profile refuses.
const nsFlags = unix.CLONE_NEWNS | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWUSER |
	unix.CLONE_NEWPID | unix.CLONE_NEWNET | unix.CLONE_NEWCGROUP | unix.CLONE_NEWTIME

// Offsets in struct seccomp_data (linux/seccomp.h); the low half of the
// first argument on a little-endian machine.
const (
	offNR    = 0
	offArch  = 4
	offArg0  = 16
	x32Bit   = 0x40000000 // __X32_SYSCALL_BIT: the x32 ABI's calls, another table
	retAllow = unix.SECCOMP_RET_ALLOW
	retEPERM = unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
	retNOSYS = unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)
)

func stmt(code uint16, k uint32) unix.SockFilter { return unix.SockFilter{Code: code, K: k} }

func jump(code uint16, k uint32, jt, jf uint8) unix.SockFilter {
	return unix.SockFilter{Code: code, Jt: jt, Jf: jf, K: k}
}

// defaultProgram is the default profile as classic BPF for this
// machine's architecture: a call of another architecture (a 32-bit
// int 0x80 on x86-64) or of the x32 table is refused outright, since
// its numbers are not the ones listed.
func defaultProgram() ([]unix.SockFilter, error) {
	if nativeArch == 0 {
		return nil, errors.New("seccomp: no default profile for this architecture")
	}
	const (
		ld  = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		jeq = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		jge = unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K
		jst = unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K
		ret = unix.BPF_RET | unix.BPF_K
	)
	p := []unix.SockFilter{
		stmt(ld, offArch),
		jump(jeq, nativeArch, 1, 0),
		stmt(ret, retEPERM),
		stmt(ld, offNR),
		jump(jge, x32Bit, 0, 1),
		stmt(ret, retEPERM),
	}
	for _, nr := range denied {
		p = append(p, jump(jeq, uint32(nr), 0, 1), stmt(ret, retEPERM))
	}
	p = append(p,
		jump(jeq, unix.SYS_CLONE3, 0, 1), stmt(ret, retNOSYS),
		jump(jeq, unix.SYS_CLONE, 0, 3),
		stmt(ld, offArg0),
		jump(jst, nsFlags, 0, 1), stmt(ret, retEPERM),
		stmt(ret, retAllow),
	)
	return p, nil
}

// installSeccomp loads the profile into every thread of the process
// (TSYNC: Go may exec from any of them), for good: the filter passes on
// through exec to the service. The kernel wants no_new_privs or
// CAP_SYS_ADMIN for it.
func installSeccomp(profile string) error {
	switch profile {
	case "", "unconfined":
		return nil
	case SeccompDefault:
	default:
		return fmt.Errorf("seccomp: profile %q: unknown (want %v)", profile, SeccompProfiles)
	}
	prog, err := defaultProgram()
	if err != nil {
		return err
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if _, _, e := syscall.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&fprog))); e != 0 {
		return fmt.Errorf("seccomp: load the %s profile: %w", profile, e)
	}
	return nil
}

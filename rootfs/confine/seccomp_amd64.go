package confine

import "golang.org/x/sys/unix"

const nativeArch = unix.AUDIT_ARCH_X86_64

// denied are the calls the default profile refuses (SeccompDefault):
// the shared ones and the old calls only x86-64's table still has.
var denied = append([]int{
	unix.SYS_CREATE_MODULE, unix.SYS_QUERY_MODULE, unix.SYS_GET_KERNEL_SYMS,
	unix.SYS_IOPL, unix.SYS_IOPERM, unix.SYS_USELIB, unix.SYS_SYSFS, unix.SYS__SYSCTL, unix.SYS_USTAT,
}, deniedShared...)

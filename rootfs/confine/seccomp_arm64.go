package confine

import "golang.org/x/sys/unix"

const nativeArch = unix.AUDIT_ARCH_AARCH64

// denied are the calls the default profile refuses (SeccompDefault):
// the shared ones alone. arm64's table, the generic one, never had
// create_module, query_module, get_kernel_syms, iopl, ioperm, uselib,
// sysfs, _sysctl or ustat, so there is nothing of them to refuse.
var denied = deniedShared

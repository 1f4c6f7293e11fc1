// Package markgood marks a boot good: it finds the ESP named on the
// kernel command line, and drops the boot counter from the booted slot's
// systemd-boot entry (imgbuild-a+2-1.conf becomes imgbuild-a.conf).
package markgood

import "strings"

// Param returns the value of key=value on a kernel command line, the
// last one winning as in the kernel; ok is false when absent.
func Param(cmdline, key string) (value string, ok bool) {
	for _, f := range strings.Fields(cmdline) {
		if k, v, found := strings.Cut(f, "="); found && k == key {
			value, ok = v, true
		}
	}
	return value, ok
}

// Package markgood holds what sysinit does to the booted slot's
// systemd-boot entry: it finds the ESP named on the kernel command line
// and drops the boot counter once the boot is healthy (imgbuild-a+2-1.conf
// becomes imgbuild-a.conf), and on a trial boot gives the entry its
// release's kernel arguments when an older agent wrote it without them.
package markgood

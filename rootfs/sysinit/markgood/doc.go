// Package markgood marks a boot good: it finds the ESP named on the
// kernel command line, and drops the boot counter from the booted slot's
// systemd-boot entry (imgbuild-a+2-1.conf becomes imgbuild-a.conf).
package markgood

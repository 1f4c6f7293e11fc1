package contract

// Boot timing lines. Stage-1 and sysinit stamp the lines that end a boot
// phase with the guest clock (seconds since the kernel started, from
// /proc/uptime), so a host can place each phase on its own time axis
// whatever the machine's speed or load (qemu/timeline reads them).
const (
	// SinceBoot ends every stamped line: "... 5.26s since boot".
	SinceBoot = "s since boot"
	// PhaseDone is the format of a stage-1 phase end: name, seconds.
	// "imgbuild-stage1: modules done at 5.26s since boot"
	PhaseDone = "%s done at %.2f" + SinceBoot
	// ServiceReady is the format of the line sysinit's supervisor prints
	// when a service first passes its health check (or starts, without
	// one): name, seconds. "imgbuild-sysinit: httpd ready at 9.80s since boot"
	ServiceReady = "%s ready at %.2f" + SinceBoot
)

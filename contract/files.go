package contract

// Paths in the initramfs.
const (
	// KeysDir holds the trusted release keys, one <key id>.pub (PEM) each.
	KeysDir = "/etc/imgbuild/keys"
	// AllowUnsignedFile exists only in builds whose manifest allows an
	// unsigned release record.
	AllowUnsignedFile = "/etc/imgbuild/allow-unsigned"
)

// Paths on USR, as mounted on /usr.
const (
	// SysinitPath is PID 1.
	SysinitPath = "/usr/lib/imgbuild/sysinit"
	// LogsCommand, in /usr/bin, links to sysinit: run by that name it
	// prints the journal (imgbuild logs' flags) instead of booting.
	LogsCommand = "imgbuild-logs"
	// ServicesCommand, in /usr/bin, links to sysinit too: run by that
	// name it shows the services' state, restarts and cgroup usage.
	ServicesCommand = "imgbuild-services"
	// Path is the runtime configuration (Config) sysinit reads.
	Path = "/usr/lib/imgbuild/image.json"
	// USRKeysDir holds the same trusted release keys as KeysDir, on
	// verified USR, for the programs that check payloads after
	// switch_root (the initramfs is gone by then).
	USRKeysDir = "/usr/lib/imgbuild/keys"
	// FactoryDir holds files that the manifest places outside /usr (for
	// example /etc/hosts). sysinit copies them to / on every boot, so an
	// update that changes them takes effect, as systemd-tmpfiles does
	// with /usr/share/factory.
	FactoryDir = "/usr/share/factory"
	// ImagesDir holds container services' trees, one NAME/rootfs each,
	// under dm-verity like the rest of USR.
	ImagesDir = "/usr/lib/imgbuild/images"
)

// Console markers: the line prefixes tests, imgbuild run and people read
// on the serial console.
const (
	Stage1Marker  = "imgbuild-stage1: "
	Stage1Fatal   = Stage1Marker + "FATAL: "
	SysinitMarker = "imgbuild-sysinit: "
	SysinitFatal  = SysinitMarker + "FATAL"
	// HealthyLine starts the line sysinit prints once every service
	// passed its health check.
	HealthyLine = SysinitMarker + "healthy"
	// MarkedGoodLine starts the line printed once the boot entry's
	// counter is gone.
	MarkedGoodLine = SysinitMarker + "marked good "
	// TrialArgsLine starts the line of a trial boot whose entry lacked
	// its release's kernel arguments and reboots to try it with them.
	TrialArgsLine = SysinitMarker + "kernel arguments of"
)

package contract

// The platform an image was built for (its --target) and what sysinit
// reads from that platform's instance metadata service.
const (
	// PlatformFile is on USR only in images built for a platform with an
	// instance metadata service; it holds the platform's name (PlatformAWS)
	// and a newline. Images without it never probe a metadata address: a
	// QEMU machine has nothing there and must not wait for it.
	PlatformFile = "/usr/lib/imgbuild/platform"
	// PlatformAWS is EC2: IMDSv2 at IMDSAddress.
	PlatformAWS = "aws"
	// IMDSAddress is EC2's instance metadata service (link-local).
	IMDSAddress = "169.254.169.254"
	// IMDSApplied records, on ROOT, that the metadata's hostname and SSH
	// keys were applied, so later boots do not read them again.
	IMDSApplied = "/var/lib/imgbuild/imds.applied"
)

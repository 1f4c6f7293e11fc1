package output

// Artifact is one output file.
type Artifact struct {
	Kind   string `json:"kind"` // disk, kernel, initramfs, usr, release, signature, uki-a, uki-b, qcow2, vmdk, aws, pxe-initrd, ipxe, pxe-efi, summary
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// Result describes a finished build.
type Result struct {
	Name            string `json:"name"`
	Version         string `json:"version"`
	Target          string `json:"target"`
	SourceDateEpoch int64  `json:"source_date_epoch"`
	// USREncoder is USR's compression and the encoder that wrote it
	// (pure Go or a system library, with its version): a rebuild gives
	// the same bytes only with the same encoder.
	USREncoder  string      `json:"usr_encoder"`
	Artifacts   []Artifact  `json:"artifacts"`
	LockChanges []string    `json:"lock_changes,omitempty"`
	Run         RunSettings `json:"run"`
}

// RunSettings are what imgbuild run needs to boot the image like the
// manifest asks; they are written beside the image.
type RunSettings struct {
	MemoryMiB int       `json:"memory_mib"`
	Forwards  []PortFwd `json:"forwards,omitempty"`
	// SSHPort is the guest port of the image's SSH server; 0: none.
	SSHPort int `json:"ssh_port,omitempty"`
	// Arch is the image's arch (amd64, arm64), which picks the
	// emulator, machine and firmware; empty (a summary from before
	// arm64 images) is amd64.
	Arch string `json:"arch,omitempty"`
}

// PortFwd is a host-to-guest TCP forward.
type PortFwd struct {
	Host  int `json:"host"`
	Guest int `json:"guest"`
}

// AWSRegistration is what EC2's RegisterImage needs to know of an image
// beyond its snapshot: imgbuild publish aws reads it.
type AWSRegistration struct {
	Name               string `json:"name"`
	Description        string `json:"description"`
	Architecture       string `json:"architecture"`        // x86_64
	BootMode           string `json:"boot_mode"`           // uefi
	EnaSupport         bool   `json:"ena_support"`         // the image carries the ena driver
	ImdsSupport        string `json:"imds_support"`        // v2.0: IMDSv2 required
	RootDeviceName     string `json:"root_device_name"`    // /dev/xvda
	VirtualizationType string `json:"virtualization_type"` // hvm
	VolumeSizeGiB      int64  `json:"volume_size_gib"`     // the raw image, rounded up
}

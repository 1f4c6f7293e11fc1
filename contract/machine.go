package contract

// Per-machine identity: the Ignition config applied on first boot, the
// SSH keys it and the manifest give, and the state kept on ROOT.
const (
	// IgnitionFwCfg is the QEMU fw_cfg entry a config comes in by
	// (Fedora CoreOS's convention: -fw_cfg name=opt/com.coreos/config,file=F).
	IgnitionFwCfg = "opt/com.coreos/config"
	// IgnitionURLKey is the kernel command-line key naming a config URL (PXE).
	IgnitionURLKey = "ignition.config.url"
	// OEMConfig is the config's file name at the root of the OEM
	// partition's FAT file system (imgbuild oem writes it).
	OEMConfig = "config.ign"
	// OEMLabel is the OEM partition's GPT name and FAT volume label.
	OEMLabel = "OEM"
	// IgnitionApplied records, on ROOT, the sha256 of the config that was
	// applied, so later boots do not apply it again.
	IgnitionApplied = "/var/lib/imgbuild/ignition.applied"

	// SSHKeysUSR holds one authorized_keys file per user (named for the
	// user) from the manifest's ssh section, on verified USR.
	SSHKeysUSR = "/usr/lib/imgbuild/ssh/authorized_keys"
	// SSHKeysMachine holds one authorized_keys file per user from the
	// per-machine config, on ROOT.
	SSHKeysMachine = "/var/lib/imgbuild/ssh/authorized_keys"
	// SSHHostKey is the ed25519 host key (OpenSSH PEM), made on first boot.
	SSHHostKey = "/var/lib/imgbuild/ssh/ssh_host_ed25519_key"

	// ServiceEnvDir holds NAME.env (KEY=VALUE lines) for the service NAME:
	// per-machine service settings arrive there as files of the config.
	ServiceEnvDir = "/etc/imgbuild/env"
	// JournalDir holds the journal's segments on ROOT, shared by both
	// slots: a rolled-back trial boot's lines stay (package journal).
	JournalDir = "/var/log/imgbuild/journal"
	// RandomSeed is the entropy carried from one boot to the next.
	RandomSeed = "/var/lib/imgbuild/random-seed"
)

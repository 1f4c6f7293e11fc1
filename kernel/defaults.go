package kernel

// DefaultModules are the modules every image needs beyond what a manifest
// lists, for needs no depends= expresses: the devices a cloud or QEMU VM
// boots from and talks through, and what stage-1 itself uses. Checked
// against Debian 12's 6.1 cloud kernel, where all of them exist (as a
// module, or built in and then skipped by Closure):
//
//   - virtio_pci, virtio_blk, virtio_scsi, virtio_net: QEMU, GCE disks and
//     network (modules).
//   - sd_mod: the disk driver behind virtio_scsi; the SCSI bus loads it by
//     modalias, so virtio_scsi's depends= does not name it (module).
//   - virtio_rng: seeds the entropy pool when the VM has a virtio-rng
//     device; harmless otherwise (module).
//   - nvme: EBS and local NVMe disks (built in there).
//   - ena: the AWS network adapter (module).
//   - squashfs: USR; its xz, zstd, lz4, lzo and zlib decompressors are
//     built in (module).
//   - dm_mod, dm_verity: verified USR; depends= adds dm_bufio and
//     reed_solomon (modules).
//   - ext4: ROOT (built in there).
//   - vfat with nls_cp437 and nls_ascii: the ESP; the kernel's default FAT
//     codepage is 437 and iocharset "ascii", loaded by name at mount time,
//     so no depends= names them (modules).
//   - efivarfs: EFI variables, for boot counting and updates (module).
//   - button, evdev: ACPI power button events, for a clean shutdown on a
//     hypervisor's power-off request (modules).
//   - sha256_ssse3: the SSSE3/AVX2/SHA-NI sha256 for dm-verity, which
//     otherwise hashes every USR block read with sha256-generic; the
//     crypto API picks it by priority when verity sets up, after all
//     modules loaded. On a CPU without SSSE3 it finds nothing to use and
//     is skipped (ENODEV), like efivarfs without UEFI (module).
//   - qemu_fw_cfg: QEMU's fw_cfg entries in sysfs, where the per-machine
//     config comes in (opt/com.coreos/config); a platform driver, it
//     loads and binds nothing on other machines (module, CONFIG_FW_CFG_SYSFS=m).
var DefaultModules = []string{
	"virtio_pci", "virtio_blk", "virtio_scsi", "sd_mod", "virtio_net", "virtio_rng",
	"nvme", "ena",
	"squashfs", "dm_mod", "dm_verity", "ext4",
	"vfat", "nls_cp437", "nls_ascii", "efivarfs",
	"button", "evdev",
	"qemu_fw_cfg",
	"sha256_ssse3",
}

// DefaultModulesArm64 is DefaultModules for an arm64 image, checked
// against Debian 12's 6.1 cloud-arm64 kernel: the same list with the
// arm64 sha256 in place of sha256_ssse3, and virtio_mmio, the transport
// of the virt machine's own virtio devices; every one of them is a
// module there apart from nvme, ext4 and button.
//
//   - sha2_ce: the ARMv8 Crypto Extensions sha256; sha256_arm64, the
//     NEON and scalar one, for CPUs without them (modules).
var DefaultModulesArm64 = []string{
	"virtio_pci", "virtio_mmio", "virtio_blk", "virtio_scsi", "sd_mod", "virtio_net", "virtio_rng",
	"nvme", "ena",
	"squashfs", "dm_mod", "dm_verity", "ext4",
	"vfat", "nls_cp437", "nls_ascii", "efivarfs",
	"button", "evdev",
	"qemu_fw_cfg",
	"sha2_ce", "sha256_arm64",
}

// DefaultModulesFor is the default module list of an image of arch.
func DefaultModulesFor(arch string) []string {
	if arch == "arm64" {
		return DefaultModulesArm64
	}
	return DefaultModules
}

// Package fat is imgbuild's own deterministic FAT writer: FAT32 for the
// EFI system partition of an imgbuild disk (docs/layout.md: systemd-boot,
// the boot entries, each slot's kernel and initramfs or UKI, release
// record) and FAT16 for the small OEM partition the PXE installer
// writes on the machine. It is a leaf both sides import, so it depends
// on nothing but the standard library; reading a FAT back is the host's
// job (images/esp).
//
// The writer is our own: go-diskfs v1.9.4's writes ".." entries fsck.fat
// rejects and a FAT too small at some sizes (pinned in
// TestGoDiskfsFAT32Bugs), and the second bug cannot be patched after the
// fact since the FAT size fixes where the data area starts. A writer that
// lays out a read-only tree in one pass is small, streams file data
// straight into the image at the partition's offset and never needs a
// temporary copy of the partition. Its output is a pure function of its
// inputs (volume ID and timestamps from the caller, sorted entries).
package fat

// sectorSize is the FAT sector size, the same as the disk's.
const sectorSize = 512

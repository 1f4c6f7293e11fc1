// Package esp writes and reads the FAT32 EFI system partition of an
// imgbuild disk (docs/layout.md): systemd-boot, the boot entries, each
// slot's kernel and initramfs (or UKI) and release record.
//
// The writer is our own: go-diskfs v1.9.4's writes ".." entries fsck.fat
// rejects and a FAT too small at some sizes (pinned in
// TestGoDiskfsFAT32Bugs), and the second bug cannot be patched after the
// fact since the FAT size fixes where the data area starts. A writer that
// lays out a read-only tree in one pass is small, streams file data
// straight into the image at the partition's offset and never needs a
// temporary copy of the partition. Its output is a pure function of its
// inputs (volume ID and timestamps from the caller, sorted entries).
// Reading back uses go-diskfs, which is independent of our writer.
package esp

// sectorSize is the FAT sector size, the same as the disk's.
const sectorSize = 512

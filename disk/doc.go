// Package disk writes and reads the imgbuild disk image (docs/layout.md):
// a GPT disk with a protective MBR, and the FAT32 EFI system partition.
//
// Everything it writes is a pure function of its inputs: GUIDs come from
// GUID, the FAT volume ID and every timestamp from the caller, directory
// entries are sorted, so the same inputs give the same bytes.
//
// The GPT is written by go-diskfs (every GUID set by us, unused entries
// zero). The FAT32 writer is our own: go-diskfs v1.9.4's writes ".."
// entries fsck.fat rejects and a FAT too small at some sizes (pinned in
// TestGoDiskfsFAT32Bugs), and the second bug cannot be patched after the
// fact since the FAT size fixes where the data area starts. A writer that
// lays out a read-only tree in one pass is small, streams file data
// straight into the image at the partition's offset and never needs a
// temporary copy of the partition. Reading back uses go-diskfs, which is
// independent of our writer.
package disk

// Package disk writes and reads the GPT of an imgbuild disk image
// (docs/layout.md): a protective MBR, the partition table and each
// partition's content, placed by a Layout.
//
// Everything it writes is a pure function of its inputs: GUIDs come from
// GUID, partition contents from the caller, so the same inputs give the
// same bytes. The GPT is written by go-diskfs (every GUID set by us,
// unused entries zero); reading back uses go-diskfs too. The FAT32 ESP
// inside it is written by package esp.
package disk

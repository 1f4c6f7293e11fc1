// Package updater is the update agent of a running imgbuild image: it asks
// an update server (Omaha, as Flatcar's update_engine does) or reads a
// static repository's channel, downloads the next release, refuses it
// before touching the passive USR slot unless every check passes, writes
// the slot in an order that survives a power cut at any point, and after
// a reboot reports how the new release fared: marked good, or rolled
// back by systemd-boot's boot counting (docs/updates.md).
//
// Everything the agent touches is named by Agent's fields, so tests run
// it on a disk image file and an ESP directory.
package updater

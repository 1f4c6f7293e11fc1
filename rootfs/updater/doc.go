// Package updater is the library of the update agent, imgbuild-agent
// (its main is rootfs/agent): everything the agent does on a running
// imgbuild image (docs/updates.md, "Image side").
//
// To install, in this package and across the tree, is to write a release
// into the passive USR slot: Agent.Install does it for a release offered
// by an update server (Omaha, as Flatcar's update_engine speaks it:
// omaha.go) or by a static repository's channel (check.go), and
// `imgbuild-agent install` for one from a repository directory, channel
// file or URL by hand, on sites without a server (LocalSource). An
// install
//
//   - checks the release's signed record before the large files are
//     fetched (install.go: signature, image, arch, version, min_version,
//     pin, kernel_args, denylist, the record vouching for every file
//     (repo.Vouched), the passive partition's size), and refuses with an
//     Omaha error code (refuse.go);
//   - downloads and checks each file, resuming a partial one (fetch.go);
//   - writes the slot in an order that survives a power cut at any point
//     (write.go; boot entries in entry.go): USR to the partition, synced
//     and read back, then each ESP file through fsutil's atomic write.
//
// After a reboot Reconcile (boot.go) reports how the new release fared:
// marked good, or rolled back by systemd-boot's boot counting, then
// denied. What the agent remembers is in state.go, what
// `imgbuild-agent status` shows in status.go, and Open (system.go) finds
// the real machine's disk, ESP and keys.
//
// Everything the agent touches is named by Agent's fields, so tests run
// it on a disk image file and an ESP directory.
package updater

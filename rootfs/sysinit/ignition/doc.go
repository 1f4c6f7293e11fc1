// Package ignition reads a per-machine config in Ignition's format (spec
// v3, parsed and validated by Ignition's own config package) and applies
// the part of it an imgbuild image supports, once, on the first boot:
// SSH keys of users the image has, files, directories, links and, through
// /etc/hostname, the hostname. Everything else in a config is refused by
// its field path rather than ignored, since a machine that silently lacks
// its disks or units is worse than one that does not boot.
//
// Nothing is half-applied: every file and link is staged under a
// temporary name beside its final path and renamed only once all of the
// config has been fetched, checked and written; a failure removes what
// was staged.
package ignition

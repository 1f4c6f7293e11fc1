// Package network gives a booted image a static network configuration
// from systemd-networkd's .network files, the ones Flatcar and Fedora
// CoreOS users already put in their Ignition configs
// (/etc/systemd/network/*.network), in the subset docs/config.md lists:
// [Match] Name and MACAddress, [Network] Address, Gateway, DNS and DHCP,
// [Route] Destination and Gateway.
//
// Parsing follows systemd's ini rules (comments, continuation lines,
// case-sensitive keys, repeated sections, files in lexical order, the
// first matching file wins per NIC); everything outside the subset is
// refused with the file, the line and the key, never ignored. Every file
// is parsed and checked before any link is touched, and links are
// configured with netlink. NICs no file matches keep DHCP on the first
// NIC, which the caller runs (package netup).
//
// The parser is a leaf both sides import: sysinit on the image, and
// imgbuild config validate on the build host, which checks the files a
// per-machine config carries with the same code.
package network

// Package contract is the agreement between the builder and the booted
// system: every name both sides use is spelled here once. The builder
// (package build, images/...) writes partitions, ESP files, boot entries
// and kernel command lines by these names; stage-1, sysinit and the
// programs on USR read them by the same names, and host tools (imgbuild
// run, inspect, verify, the tests) recognise the console lines here.
//
// It imports nothing but the standard library's strings and fmt, so that
// stage-1 and sysinit can carry it. docs/layout.md describes the same
// contract for humans.
package contract

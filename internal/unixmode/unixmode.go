// Package unixmode converts the 12 permission bits of stat(2), tar and
// squashfs (rwx for owner, group and others, plus setuid, setgid and
// sticky) to and from Go's fs.FileMode, which keeps the last three as
// flags of its own.
package unixmode

import "io/fs"

var special = []struct {
	unix uint32
	go_  fs.FileMode
}{{0o4000, fs.ModeSetuid}, {0o2000, fs.ModeSetgid}, {0o1000, fs.ModeSticky}}

// ToFileMode returns the permission and special bits of a Unix mode.
func ToFileMode(m uint32) fs.FileMode {
	out := fs.FileMode(m) & fs.ModePerm
	for _, s := range special {
		if m&s.unix != 0 {
			out |= s.go_
		}
	}
	return out
}

// FromFileMode returns the 12 Unix permission bits of m.
func FromFileMode(m fs.FileMode) uint32 {
	out := uint32(m.Perm())
	for _, s := range special {
		if m&s.go_ != 0 {
			out |= s.unix
		}
	}
	return out
}

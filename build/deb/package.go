// Package deb resolves, fetches and unpacks Debian binary packages without
// dpkg or root: versions and checksums come from a Debian archive's
// signed indexes (package archive) or the host's apt, files are pinned by
// sha256 and read in Go.
package deb

// Package identifies one exact build of a Debian package, as a lock file
// pins it.
type Package struct {
	Name     string
	Version  string
	Arch     string
	SHA256   string // hex, from the archive index (apt-cache show)
	Filename string // path inside the archive, e.g. pool/main/b/busybox/...
	Source   string // the archive's name (archive backend only), e.g. debian-security
	Suite    string // the suite whose index listed it
	Snapshot string // the time a snapshot service has it at (archive.SnapshotTime)
}

// String gives NAME=VERSION, the form apt accepts.
func (p Package) String() string { return p.Name + "=" + p.Version }

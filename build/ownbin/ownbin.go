// Package ownbin is imgbuild's on-image programs (stage-1, sysinit,
// sshd, imgbuild-agent): the one list of them (Programs), and, in a
// binary made by make, the programs themselves, embedded so that imgbuild
// builds images with neither Go nor its source tree; a plain go build
// embeds nothing and the build compiles them from source instead
// (generate is make's generator). It also holds the line between the two
// sides of the tree (boundary.go, README "How it is built"): which of
// imgbuild's packages and which third-party modules an on-image program
// may import, which TestBoundary checks with go list -deps over every
// program.
package ownbin

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"strings"
)

// Program is one on-image program: the file name it is embedded and
// cached under, and its package in imgbuild's module.
type Program struct {
	Name    string
	Package string
	// Optional programs are embedded and built like the others but put
	// on an image only when its manifest names them (a binaries entry
	// with own:), so a minimal image does not carry a cluster's lock
	// server.
	Optional bool
}

// Lookup returns the optional program a manifest's own: names.
func Lookup(name string) (Program, bool) {
	for _, p := range Programs {
		if p.Optional && p.Name == name {
			return p, true
		}
	}
	return Program{}, false
}

// Programs lists every on-image program. make's generator builds and
// embeds these; the source fallback builds the same list.
var Programs = []Program{
	{Name: "stage1", Package: "./initramfs/stage1"},
	{Name: "sysinit", Package: "./rootfs/sysinit"},
	{Name: "sshd", Package: "./rootfs/sshd"},
	{Name: "agent", Package: "./rootfs/agent"},
	{Name: "fleetlockd", Package: "./rootfs/cluster/fleetlockd", Optional: true},
	{Name: "coredns", Package: "./rootfs/cluster/dns", Optional: true},
	{Name: "imgbuild-registrar", Package: "./rootfs/cluster/registrar", Optional: true},
}

// Arch is the GOARCH of the embedded programs; an image of another arch
// builds its own from source.
const Arch = "amd64"

// Dir is where the generator writes the programs, relative to this
// package; a file named ToolchainFile there holds the go version that
// built them.
const (
	Dir           = "programs"
	ToolchainFile = "toolchain"
)

// Set is the embedded programs.
type Set struct {
	Toolchain string
	Files     map[string][]byte // Program.Name -> executable
	// Digest is the sha256 over the toolchain and every program's sha256:
	// it stands for the programs in cache keys and in imgbuild version.
	Digest string
}

// Embedded returns the programs embedded in this binary, or nil when it
// was built without them (a plain go build or go test).
func Embedded() (*Set, error) {
	return load(embedded)
}

func load(fsys fs.FS) (*Set, error) {
	if fsys == nil {
		return nil, nil
	}
	tc, err := fs.ReadFile(fsys, Dir+"/"+ToolchainFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("embedded on-image programs: %w", err)
	}
	s := &Set{Toolchain: strings.TrimSpace(string(tc)), Files: map[string][]byte{}}
	if s.Toolchain == "" {
		return nil, fmt.Errorf("embedded on-image programs: %s is empty", ToolchainFile)
	}
	h := sha256.New()
	fmt.Fprintf(h, "toolchain %s\n", s.Toolchain)
	for _, p := range Programs {
		data, err := fs.ReadFile(fsys, Dir+"/"+p.Name)
		if err != nil {
			return nil, fmt.Errorf("embedded on-image programs: %w (rebuild imgbuild with make)", err)
		}
		s.Files[p.Name] = data
		fmt.Fprintf(h, "%s %x\n", p.Name, sha256.Sum256(data))
	}
	s.Digest = hex.EncodeToString(h.Sum(nil))
	return s, nil
}

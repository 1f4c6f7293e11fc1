//go:build imgbuild_embed

package ownbin

import (
	"embed"
	"io/fs"
)

// The generator (go run ./build/ownbin/generate, run by make) writes
// this directory; it is not in git.
//
//go:embed programs
var files embed.FS

var embedded fs.FS = files

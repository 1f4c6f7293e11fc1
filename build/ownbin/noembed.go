//go:build !imgbuild_embed

package ownbin

import "io/fs"

// Without the imgbuild_embed tag nothing is embedded: the build
// compiles the on-image programs from imgbuild's source tree.
var embedded fs.FS

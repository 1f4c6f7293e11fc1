//go:build liblzma && !cgo

package squashfs

// The liblzma tag needs cgo: build with CGO_ENABLED=1 (and liblzma-dev).
var _ = liblzma_build_tag_needs_CGO_ENABLED_1

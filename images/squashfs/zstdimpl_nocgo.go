//go:build libzstd && !cgo

package squashfs

// The libzstd tag needs cgo: build with CGO_ENABLED=1 (and libzstd-dev).
var _ = libzstd_build_tag_needs_CGO_ENABLED_1

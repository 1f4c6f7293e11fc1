//go:build libzstd

package squashfs

/*
#cgo LDFLAGS: -lzstd
#include <zstd.h>
*/
import "C"

import (
	"fmt"
	"runtime"
	"unsafe"
)

// ZSTDImplementation names the zstd encoder this build uses; images
// differ between encoders, so reproducibility holds per implementation
// (and, here, per libzstd version).
var ZSTDImplementation = "libzstd " + C.GoString(C.ZSTD_versionString())

// libzstdCompressor calls the system's libzstd the way mksquashfs does:
// one context per worker, one frame per block, its level's parameters
// adapted to the block's size, so the window never exceeds the block.
type libzstdCompressor struct {
	cctx  *C.ZSTD_CCtx
	level C.int
}

func newZSTD(level, _ int) (compressor, error) {
	cctx := C.ZSTD_createCCtx()
	if cctx == nil {
		return nil, fmt.Errorf("squashfs: zstd: cannot allocate a compression context")
	}
	z := &libzstdCompressor{cctx: cctx, level: C.int(level)}
	runtime.SetFinalizer(z, func(z *libzstdCompressor) { C.ZSTD_freeCCtx(z.cctx) })
	return z, nil
}

func (z *libzstdCompressor) compress(dst, src []byte) ([]byte, error) {
	if len(src) == 0 {
		return nil, fmt.Errorf("squashfs: zstd: empty block")
	}
	bound := int(C.ZSTD_compressBound(C.size_t(len(src))))
	if cap(dst) < bound {
		dst = make([]byte, bound)
	}
	dst = dst[:cap(dst)]
	n := C.ZSTD_compressCCtx(z.cctx, unsafe.Pointer(&dst[0]), C.size_t(len(dst)),
		unsafe.Pointer(&src[0]), C.size_t(len(src)), z.level)
	runtime.KeepAlive(z)
	if C.ZSTD_isError(n) != 0 {
		return nil, fmt.Errorf("squashfs: zstd: %s", C.GoString(C.ZSTD_getErrorName(n)))
	}
	return dst[:n], nil
}

//go:build liblzma

package squashfs

/*
#cgo LDFLAGS: -llzma
#include <lzma.h>

// xz_block encodes one squashfs block as mksquashfs does: a single .xz
// stream, LZMA2 at the default preset with the dictionary set to the
// block size, CRC32 check, no BCJ filter (the kernel reads that subset).
static lzma_ret xz_block(uint32_t dict, const uint8_t *in, size_t in_size,
		uint8_t *out, size_t *out_pos, size_t out_size) {
	lzma_options_lzma opt;
	if (lzma_lzma_preset(&opt, LZMA_PRESET_DEFAULT))
		return LZMA_OPTIONS_ERROR;
	opt.dict_size = dict;
	lzma_filter filters[2] = {
		{ .id = LZMA_FILTER_LZMA2, .options = &opt },
		{ .id = LZMA_VLI_UNKNOWN, .options = NULL },
	};
	return lzma_stream_buffer_encode(filters, LZMA_CHECK_CRC32, NULL,
		in, in_size, out, out_pos, out_size);
}
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// XZImplementation names the xz encoder this build uses; images differ
// between encoders, so reproducibility holds per implementation (and,
// here, per liblzma version).
var XZImplementation = "liblzma " + C.GoString(C.lzma_version_string())

type liblzmaCompressor struct{ dict C.uint32_t }

func newXZ(window int) (compressor, error) {
	if window < C.LZMA_DICT_SIZE_MIN {
		return nil, fmt.Errorf("squashfs: xz: dictionary %d below liblzma's minimum", window)
	}
	return liblzmaCompressor{C.uint32_t(window)}, nil
}

func (x liblzmaCompressor) compress(dst, src []byte) ([]byte, error) {
	if len(src) == 0 {
		return nil, fmt.Errorf("squashfs: xz: empty block")
	}
	bound := int(C.lzma_stream_buffer_bound(C.size_t(len(src))))
	if cap(dst) < bound {
		dst = make([]byte, bound)
	}
	dst = dst[:cap(dst)]
	var n C.size_t
	ret := C.xz_block(x.dict, (*C.uint8_t)(unsafe.Pointer(&src[0])), C.size_t(len(src)),
		(*C.uint8_t)(unsafe.Pointer(&dst[0])), &n, C.size_t(len(dst)))
	if ret != C.LZMA_OK {
		return nil, fmt.Errorf("squashfs: xz: liblzma error %d", int(ret))
	}
	return dst[:n], nil
}

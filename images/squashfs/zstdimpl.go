//go:build !libzstd

package squashfs

import (
	"fmt"

	"github.com/klauspost/compress/zstd"
)

// ZSTDImplementation names the zstd encoder this build uses; images
// differ between encoders, so reproducibility holds per implementation.
const ZSTDImplementation = "pure Go (klauspost/compress)"

func newZSTD(level, window int) (compressor, error) {
	enc, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(level)),
		zstd.WithEncoderConcurrency(1),
		zstd.WithWindowSize(window),
		zstd.WithEncoderCRC(false))
	if err != nil {
		return nil, fmt.Errorf("squashfs: zstd encoder: %w", err)
	}
	return zstdCompressor{enc}, nil
}

type zstdCompressor struct{ enc *zstd.Encoder }

func (z zstdCompressor) compress(dst, src []byte) ([]byte, error) {
	return z.enc.EncodeAll(src, dst[:0]), nil
}

package squashfs

import (
	"bytes"
	"compress/zlib"
	"fmt"
)

// metadataSize is the uncompressed size of a metadata block.
const metadataSize = 8192

// compressor compresses one block. Instances are not safe for concurrent
// use: each worker gets its own.
type compressor interface {
	// compress appends the compressed form of src to dst[:0].
	compress(dst, src []byte) ([]byte, error)
}

// newCompressor returns a compressor for opt (already defaulted).
func newCompressor(opt Options) (compressor, error) {
	// The kernel sizes its decompression window from the block size, never
	// less than a metadata block; a larger window in a stream is refused.
	window := max(opt.BlockSize, metadataSize)
	switch opt.Compression {
	case ZSTD:
		return newZSTD(opt.Level, window)
	case XZ:
		return newXZ(window)
	case GZIP:
		zw, err := zlib.NewWriterLevel(nil, opt.Level)
		if err != nil {
			return nil, fmt.Errorf("squashfs: zlib writer: %w", err)
		}
		return &gzipCompressor{zw: zw}, nil
	}
	return nil, fmt.Errorf("squashfs: unknown compression %d", int(opt.Compression))
}

type gzipCompressor struct {
	zw  *zlib.Writer
	buf bytes.Buffer
}

func (g *gzipCompressor) compress(dst, src []byte) ([]byte, error) {
	g.buf.Reset()
	g.zw.Reset(&g.buf)
	if _, err := g.zw.Write(src); err != nil {
		return nil, fmt.Errorf("squashfs: zlib: %w", err)
	}
	if err := g.zw.Close(); err != nil {
		return nil, fmt.Errorf("squashfs: zlib: %w", err)
	}
	return append(dst[:0], g.buf.Bytes()...), nil
}

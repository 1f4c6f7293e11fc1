//go:build !liblzma

package squashfs

import (
	"bytes"
	"fmt"

	"github.com/ulikunitz/xz"
)

// XZImplementation names the xz encoder this build uses; like
// ZSTDImplementation, images differ between encoders.
const XZImplementation = "pure Go (ulikunitz/xz)"

func newXZ(window int) (compressor, error) {
	cfg := xz.WriterConfig{DictCap: window, CheckSum: xz.CRC32}
	if err := cfg.Verify(); err != nil {
		return nil, fmt.Errorf("squashfs: xz config: %w", err)
	}
	return &xzCompressor{cfg: cfg}, nil
}

type xzCompressor struct {
	cfg xz.WriterConfig
	buf bytes.Buffer
}

func (x *xzCompressor) compress(dst, src []byte) ([]byte, error) {
	x.buf.Reset()
	w, err := x.cfg.NewWriter(&x.buf)
	if err != nil {
		return nil, fmt.Errorf("squashfs: xz: %w", err)
	}
	if _, err := w.Write(src); err != nil {
		return nil, fmt.Errorf("squashfs: xz: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("squashfs: xz: %w", err)
	}
	return append(dst[:0], x.buf.Bytes()...), nil
}

package squashfs

import (
	"fmt"
	"math/bits"
	"runtime"
	"time"
)

// Compression selects the compressor for data and metadata blocks.
type Compression int

const (
	// ZSTD is the default compressor.
	ZSTD Compression = iota
	// XZ writes xz streams with a CRC32 check and no BCJ filter, the
	// subset the kernel's xz decoder reads.
	XZ
	// GZIP writes zlib streams.
	GZIP
)

// String returns the name mksquashfs uses for the compressor.
func (c Compression) String() string {
	switch c {
	case ZSTD:
		return "zstd"
	case XZ:
		return "xz"
	case GZIP:
		return "gzip"
	}
	return fmt.Sprintf("Compression(%d)", int(c))
}

// Encoder names the implementation that writes c's streams in this
// build (pure Go, or a system library and its version): the same input
// gives the same image for the same encoder.
func Encoder(c Compression) string {
	switch c {
	case ZSTD:
		return ZSTDImplementation
	case XZ:
		return XZImplementation
	case GZIP:
		return "Go compress/zlib"
	}
	return c.String()
}

// id is the compressor number stored in the superblock.
func (c Compression) id() uint16 {
	switch c {
	case GZIP:
		return 1
	case XZ:
		return 4
	default:
		return 6
	}
}

// Defaults applied by Write to zero Options fields.
const (
	DefaultBlockSize = 128 << 10
	DefaultZSTDLevel = 15 // mksquashfs's default
	DefaultGZIPLevel = 9  // mksquashfs's default
)

// Options controls how an image is written. The zero value is usable.
type Options struct {
	Compression Compression
	// Level is the compression level (ZSTD 1-22, GZIP 1-9); 0 means the
	// compressor's default. XZ has no levels and ignores it.
	Level int
	// BlockSize is the data block size, a power of two from 4 KiB to
	// 1 MiB; 0 means DefaultBlockSize.
	BlockSize int
	// ModTime is the superblock's creation time and the mtime of implied
	// directories and of entries whose ModTime is zero. Pass
	// SOURCE_DATE_EPOCH here for reproducible builds; zero means 1970.
	ModTime time.Time
	// Workers is the number of goroutines compressing data blocks; 0
	// means GOMAXPROCS. The output does not depend on it.
	Workers int
}

// withDefaults validates opt and fills its zero fields.
func (opt Options) withDefaults() (Options, error) {
	if opt.BlockSize == 0 {
		opt.BlockSize = DefaultBlockSize
	}
	if opt.BlockSize < 4096 || opt.BlockSize > 1<<20 || bits.OnesCount(uint(opt.BlockSize)) != 1 {
		return opt, fmt.Errorf("squashfs: block size %d: want a power of two from 4096 to 1048576", opt.BlockSize)
	}
	if opt.Workers <= 0 {
		opt.Workers = runtime.GOMAXPROCS(0)
	}
	switch opt.Compression {
	case ZSTD:
		if opt.Level == 0 {
			opt.Level = DefaultZSTDLevel
		}
		if opt.Level < 1 || opt.Level > 22 {
			return opt, fmt.Errorf("squashfs: zstd level %d: want 1-22", opt.Level)
		}
	case GZIP:
		if opt.Level == 0 {
			opt.Level = DefaultGZIPLevel
		}
		if opt.Level < 1 || opt.Level > 9 {
			return opt, fmt.Errorf("squashfs: gzip level %d: want 1-9", opt.Level)
		}
	case XZ:
	default:
		return opt, fmt.Errorf("squashfs: unknown compression %d", int(opt.Compression))
	}
	return opt, nil
}

// blockLog is log2 of the block size, stored in the superblock.
func (opt Options) blockLog() uint16 {
	return uint16(bits.TrailingZeros(uint(opt.BlockSize)))
}

// Package diskimage writes a disk image, streamed from the network, onto
// a local disk for the PXE installer (imgbuild.install=): the image must
// match the size and sha256 of its signed description (sign.DiskImage),
// checked over the very bytes written, before the disk can boot it.
package diskimage

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/imgbuild/imgbuild/sign"
)

// HeadSize is held back until the whole image checked out: it holds the
// protective MBR and the primary GPT, without which no firmware boots
// the disk. A GPT image's first 1 MiB is its partition table and gap.
const HeadSize = 1 << 20

const chunk = 1 << 20

// Disk is where the image goes.
type Disk interface {
	io.WriterAt
	// ZeroRange makes [off, off+n) read as zeros; an error means "write
	// the zeros instead".
	ZeroRange(off, n int64) error
	Sync() error
}

// Mismatch: the stream was not the image its description vouches for.
var Mismatch = errors.New("the image does not match its signed description")

// Write streams src onto disk. The head is written last, and only when
// the stream has exactly want.Size bytes whose sha256 is want.SHA256;
// otherwise the tail written so far is wiped where it may hold a backup
// GPT and the error wraps Mismatch. progress, if not nil, is called
// after each chunk with the bytes done.
func Write(disk Disk, src io.Reader, want sign.DiskImage, progress func(done int64)) error {
	if want.Size < HeadSize {
		return fmt.Errorf("install: image of %d bytes is smaller than its partition table area", want.Size)
	}
	h := sha256.New()
	head := make([]byte, HeadSize)
	if _, err := io.ReadFull(io.TeeReader(src, h), head); err != nil {
		return fmt.Errorf("install: read: %w", err)
	}
	off := int64(HeadSize)
	buf := make([]byte, chunk)
	for {
		n, err := io.ReadFull(io.TeeReader(io.LimitReader(src, want.Size-off+1), h), buf)
		if n > 0 {
			if off+int64(n) > want.Size {
				wipeTail(disk, off)
				return fmt.Errorf("install: %w: more than %d bytes", Mismatch, want.Size)
			}
			if werr := writeChunk(disk, buf[:n], off); werr != nil {
				return fmt.Errorf("install: write at %d: %w", off, werr)
			}
			off += int64(n)
			if progress != nil {
				progress(off)
			}
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			wipeTail(disk, off)
			return fmt.Errorf("install: read at %d: %w", off, err)
		}
	}
	if got := hex.EncodeToString(h.Sum(nil)); off != want.Size || got != want.SHA256 {
		wipeTail(disk, off)
		return fmt.Errorf("install: %w: got %d bytes with sha256 %s, want %d bytes with sha256 %s", Mismatch, off, got, want.Size, want.SHA256)
	}
	if err := disk.Sync(); err != nil {
		return fmt.Errorf("install: sync: %w", err)
	}
	if _, err := disk.WriteAt(head, 0); err != nil {
		return fmt.Errorf("install: partition table: %w", err)
	}
	if err := disk.Sync(); err != nil {
		return fmt.Errorf("install: sync: %w", err)
	}
	return nil
}

func writeChunk(disk Disk, b []byte, off int64) error {
	if allZero(b) && disk.ZeroRange(off, int64(len(b))) == nil {
		return nil
	}
	_, err := disk.WriteAt(b, off)
	return err
}

// wipeTail zeroes the last MiB written, where a GPT image keeps its
// backup table: firmware must not find a partition table on a disk whose
// image failed its check.
func wipeTail(disk Disk, end int64) {
	start := max(end-chunk, HeadSize)
	if end > start {
		if disk.ZeroRange(start, end-start) != nil {
			disk.WriteAt(make([]byte, end-start), start)
		}
		disk.Sync()
	}
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

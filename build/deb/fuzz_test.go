package deb

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// FuzzWalk reads a .deb as the build reads every package it downloads:
// ar, then data.tar in each compression packages use, then tar.
func FuzzWalk(f *testing.F) {
	plain := tarBytes(f, []tar.Header{
		{Name: "./usr/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "./usr/bin/x", Typeflag: tar.TypeReg, Mode: 0o755},
		{Name: "./usr/bin/y", Typeflag: tar.TypeSymlink, Linkname: "x"},
	})
	f.Add(debBytes("data.tar", plain))
	for name, w := range map[string]func(io.Writer) (io.WriteCloser, error){
		"data.tar.gz":  func(w io.Writer) (io.WriteCloser, error) { return gzip.NewWriter(w), nil },
		"data.tar.xz":  func(w io.Writer) (io.WriteCloser, error) { return xz.NewWriter(w) },
		"data.tar.zst": func(w io.Writer) (io.WriteCloser, error) { return zstd.NewWriter(w) },
	} {
		var b bytes.Buffer
		zw, err := w(&b)
		if err != nil {
			f.Fatal(err)
		}
		zw.Write(plain)
		zw.Close()
		f.Add(debBytes(name, b.Bytes()))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_ = walkReader("f.deb", bytes.NewReader(data), func(_ *tar.Header, r io.Reader) error {
			// Bounded, so that a small bomb is not a slow input.
			_, err := io.CopyN(io.Discard, r, 1<<20)
			if err == io.EOF {
				err = nil
			}
			return err
		})
		runtime.ReadMemStats(&after)
		// What a reader allocates must follow from the input's size, not
		// from a window or length the input claims (up to the zstd cap).
		if n := after.TotalAlloc - before.TotalAlloc; n > 2*maxZstdWindow {
			t.Errorf("%d bytes of input allocated %d MiB", len(data), n>>20)
		}
	})
}

// TestWalkZstdWindowBounded: a data.tar.zst whose frame header asks for
// a 512 MiB window, followed by one byte, made the build allocate 512 MiB.
func TestWalkZstdWindowBounded(t *testing.T) {
	frame := []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x98} // magic, no flags, window 2^29
	frame = append(frame, 0x03, 0x00, 0x00, 'a')        // last block, RLE, zero length
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	err := walkReader("bomb.deb", bytes.NewReader(debBytes("data.tar.zst", frame)), func(*tar.Header, io.Reader) error { return nil })
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), "window") {
		t.Errorf("walk: %v, want a window size error", err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 64<<20 {
		t.Errorf("allocated %d MiB", n>>20)
	}
}

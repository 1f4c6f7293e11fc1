package deb

import (
	"archive/tar"
	"compress/bzip2"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// Walk calls fn for every entry of the package's data.tar, in archive
// order. r reads the entry's content (regular files only). Walking stops at
// the first error fn returns, which Walk returns unchanged.
func Walk(debPath string, fn func(hdr *tar.Header, r io.Reader) error) error {
	f, err := os.Open(debPath)
	if err != nil {
		return fmt.Errorf("deb: %w", err)
	}
	defer f.Close()
	return walkReader(debPath, f, fn)
}

func walkReader(name string, r io.Reader, fn func(*tar.Header, io.Reader) error) error {
	data, closeData, err := openDataTar(name, r)
	if err != nil {
		return err
	}
	defer closeData()
	tr := tar.NewReader(data)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("deb: %s: read data.tar: %w", name, err)
		}
		if err := fn(hdr, tr); err == fs.SkipAll {
			return nil
		} else if err != nil {
			return err
		}
	}
}

// openDataTar finds the data.tar member and returns its decompressed stream.
func openDataTar(name string, r io.Reader) (io.Reader, func(), error) {
	ar, err := newARReader(r)
	if err != nil {
		return nil, nil, fmt.Errorf("deb: %s: %w", name, err)
	}
	first := true
	for {
		m, err := ar.Next()
		if err == io.EOF {
			return nil, nil, fmt.Errorf("deb: %s: no data.tar member", name)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("deb: %s: %w", name, err)
		}
		if first && m.Name != "debian-binary" {
			return nil, nil, fmt.Errorf("deb: %s: first member is %q, not debian-binary", name, m.Name)
		}
		first = false
		if !strings.HasPrefix(m.Name, "data.tar") {
			continue
		}
		dr, closeFn, err := decompress(m.Name, ar)
		if err != nil {
			return nil, nil, fmt.Errorf("deb: %s: %w", name, err)
		}
		return dr, closeFn, nil
	}
}

// maxZstdWindow bounds the window a data.tar.zst may ask for: the decoder
// allocates it up front, and ten bytes of frame header asking for the
// library's default limit (512 MiB) made the build allocate all of it
// (found by FuzzWalk). 128 MiB is zstd's --long and level 22 window, past
// anything dpkg-deb writes.
const maxZstdWindow = 128 << 20

func decompress(member string, r io.Reader) (io.Reader, func(), error) {
	noop := func() {}
	switch strings.TrimPrefix(member, "data.tar") {
	case "":
		return r, noop, nil
	case ".xz":
		xr, err := xz.NewReader(r)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", member, err)
		}
		return xr, noop, nil
	case ".zst":
		zr, err := zstd.NewReader(r, zstd.WithDecoderMaxWindow(maxZstdWindow))
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", member, err)
		}
		return zr, zr.Close, nil
	case ".gz":
		gr, err := gzip.NewReader(r)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", member, err)
		}
		return gr, func() { gr.Close() }, nil
	case ".bz2":
		return bzip2.NewReader(r), noop, nil
	}
	return nil, nil, errors.New("unsupported member " + member)
}

// Package ocitest makes small container images for tests: layers of
// given tar entries, a linux image with a given config, an OCI image
// layout of it, all with go-containerregistry as a user's tools would.
package ocitest

import (
	"archive/tar"
	"bytes"
	"io"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// File is one tar entry; Data is a regular file's content (its Size
// is set from it), and a zero Mode is 0644.
type File struct {
	tar.Header
	Data []byte
}

// Reg is a regular file.
func Reg(name string, mode int64, data string) File {
	return File{Header: tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode}, Data: []byte(data)}
}

// Layer is an uncompressed tar layer of files, each stamped with one
// fixed time so the digests stay the same from run to run.
func Layer(files ...File) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := f.Header
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(f.Data))
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		h.ModTime = time.Unix(1700000000, 0)
		if err := tw.WriteHeader(&h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.Data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
}

// Image is a linux/arch image of the layers, in order, with config c.
func Image(arch string, c v1.Config, layers ...v1.Layer) (v1.Image, error) {
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Config = "linux", arch, c
	return mutate.ConfigFile(img, cf)
}

// WriteLayout writes an OCI image layout holding img at dir and returns
// the image manifest's digest, the one a manifest names it by.
func WriteLayout(dir string, img v1.Image) (string, error) {
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return "", err
	}
	if err := p.AppendImage(img); err != nil {
		return "", err
	}
	d, err := img.Digest()
	return d.String(), err
}

package sign

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// DiskImageFormat is the format of a DiskImage document.
const DiskImageFormat = "imgbuild-disk-image/1"

// DiskImageContext separates signatures over disk image descriptions
// from record and channel signatures made with the same key.
const DiskImageContext = "imgbuild disk image v1\n"

// DiskImage vouches for a whole disk image, which the installer of a
// PXE boot writes to a local disk. It cannot live in the release record:
// the record is on the image's ESP, so it cannot hold the image's hash.
// It names the release by its verity root instead.
type DiskImage struct {
	Format     string `json:"format"` // DiskImageFormat
	Name       string `json:"name"`
	Version    string `json:"version"`
	VerityRoot string `json:"verity_root"` // the release record's
	SHA256     string `json:"sha256"`      // of the raw image, every byte
	Size       int64  `json:"size"`        // bytes of the raw image
}

// Canonical is the document as compact JSON in field order; it is what
// the signature covers.
func (d DiskImage) Canonical() []byte {
	b, err := json.Marshal(d)
	if err != nil {
		panic(fmt.Sprintf("sign: marshal disk image: %v", err))
	}
	return b
}

// ParseDiskImage decodes a DiskImage document; check its signature over
// the raw bytes first (VerifyBytes with DiskImageContext).
func ParseDiskImage(data []byte) (*DiskImage, error) {
	var d DiskImage
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("disk image description: %w", err)
	}
	if d.Format != DiskImageFormat {
		return nil, fmt.Errorf("disk image description: format %q, want %q", d.Format, DiskImageFormat)
	}
	if len(d.SHA256) != 64 || d.Size <= 0 {
		return nil, fmt.Errorf("disk image description: sha256 %q / size %d: not an image's", d.SHA256, d.Size)
	}
	return &d, nil
}

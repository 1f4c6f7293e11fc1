package diskimage

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math/rand"
	"testing"

	"github.com/imgbuild/imgbuild/sign"
)

// memDisk records writes; zero ranges become written zeros.
type memDisk struct {
	data   []byte
	writes []int64 // offsets, in order
	zeroed int64
}

func (m *memDisk) WriteAt(b []byte, off int64) (int, error) {
	m.writes = append(m.writes, off)
	copy(m.data[off:], b)
	return len(b), nil
}

func (m *memDisk) ZeroRange(off, n int64) error {
	m.zeroed += n
	clear(m.data[off : off+n])
	return nil
}

func (m *memDisk) Sync() error { return nil }

func image(size int) ([]byte, sign.DiskImage) {
	img := make([]byte, size)
	rand.New(rand.NewSource(1)).Read(img[:size/3])
	copy(img[size-4096:], "backup GPT")
	sum := sha256.Sum256(img)
	return img, sign.DiskImage{Format: sign.DiskImageFormat, SHA256: hex.EncodeToString(sum[:]), Size: int64(size)}
}

func TestWriteGoodImage(t *testing.T) {
	img, d := image(5<<20 + 4096)
	disk := &memDisk{data: bytes.Repeat([]byte{0xee}, 8<<20)}
	var last int64
	if err := Write(disk, bytes.NewReader(img), d, func(n int64) { last = n }); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(disk.data[:len(img)], img) {
		t.Error("disk content differs from the image")
	}
	if disk.writes[len(disk.writes)-1] != 0 {
		t.Errorf("head written at %v: want the partition table last", disk.writes)
	}
	if disk.zeroed == 0 {
		t.Error("zero chunks were written, not zeroed")
	}
	if last != d.Size {
		t.Errorf("progress ended at %d, want %d", last, d.Size)
	}
}

func TestWriteRefusesBadImage(t *testing.T) {
	img, d := image(4 << 20)
	for name, tc := range map[string]struct {
		src  []byte
		want sign.DiskImage
	}{
		"flipped byte": {flip(img, 3<<20), d},
		"truncated":    {img[:len(img)-512], d},
		"longer":       {append(append([]byte(nil), img...), 1), d},
		"other sha256": {img, withSum(d, "00")},
	} {
		t.Run(name, func(t *testing.T) {
			disk := &memDisk{data: bytes.Repeat([]byte{0xee}, 8<<20)}
			err := Write(disk, bytes.NewReader(tc.src), tc.want, nil)
			if !errors.Is(err, Mismatch) {
				t.Fatalf("err = %v, want Mismatch", err)
			}
			for _, off := range disk.writes {
				if off < HeadSize {
					t.Fatalf("wrote at %d: the partition table area of a refused image", off)
				}
			}
			if bytes.Contains(disk.data, []byte("backup GPT")) {
				t.Error("the refused image's backup GPT area is still on the disk")
			}
		})
	}
}

func flip(b []byte, at int) []byte {
	c := append([]byte(nil), b...)
	c[at] ^= 1
	return c
}

func withSum(d sign.DiskImage, prefix string) sign.DiskImage {
	d.SHA256 = prefix + d.SHA256[len(prefix):]
	return d
}

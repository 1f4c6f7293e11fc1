package build

import (
	"crypto/sha256"
	"fmt"
	"os"

	"github.com/imgbuild/imgbuild/contract/verity"
)

// appendVerity pads the squashfs in f (size bytes) to a whole number of
// verity blocks and appends the dm-verity hash tree right after it, so
// that f becomes the USR slot's whole content, as layout.md describes.
// Salt and superblock UUID come from the image's name and version: the
// same manifest always gives the same tree and root hash.
func (b *builder) appendVerity(f *os.File, size int64) (*verity.Params, error) {
	hashOffset := roundUp(size, verity.BlockSize)
	if err := f.Truncate(hashOffset); err != nil {
		return nil, fmt.Errorf("usr: pad squashfs for dm-verity: %w", err)
	}
	salt, uuid := veritySeed(b.m.Name, b.m.Version)
	p, err := verity.Build(f, hashOffset, f, hashOffset, salt, uuid, 0)
	if err != nil {
		return nil, fmt.Errorf("usr: dm-verity: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("usr: %w", err)
	}
	if st.Size() > int64(b.m.Disk.USR) {
		return nil, fmt.Errorf("%s: USR needs %.1f MiB (squashfs %.1f MiB + dm-verity hash area %.1f MiB), more than its slot (disk.usr = %v): raise disk.usr",
			b.m.File, mib(st.Size()), mib(size), mib(st.Size()-hashOffset), b.m.Disk.USR)
	}
	return p, nil
}

// veritySeed derives the salt and the superblock UUID from the image's
// identity. The salt only has to differ between images (it keeps one
// image's hash blocks from being reused in another), not be secret.
func veritySeed(name, version string) (salt []byte, uuid string) {
	s := sha256.Sum256([]byte("imgbuild verity salt\x00" + name + "\x00" + version))
	u := sha256.Sum256([]byte("imgbuild verity uuid\x00" + name + "\x00" + version))
	u[6] = u[6]&0x0f | 0x80 // RFC 9562 version 8 (custom), variant 10
	u[8] = u[8]&0x3f | 0x80
	return s[:], fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

func roundUp(n, to int64) int64 { return (n + to - 1) / to * to }

func mib(n int64) float64 { return float64(n) / (1 << 20) }

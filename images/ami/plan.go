package ami

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"os"

	"github.com/imgbuild/imgbuild/internal/sparse"
)

// BlockSize is the EBS direct API's only block size: every
// PutSnapshotBlock carries exactly this many bytes.
const BlockSize = 512 << 10

// plan is what the image asks EBS to store: the indices of the blocks
// that hold a non-zero byte, each with its SHA-256. Every other block is
// left out: a snapshot reads unwritten blocks as zeros.
type plan struct {
	image  string
	size   int64
	blocks []int64    // ascending
	sums   [][32]byte // sums[i] is the checksum of blocks[i], zero-padded
	digest string     // identifies the content, see contentDigest
}

// makePlan reads every data block of image once, skipping holes.
func makePlan(image string) (*plan, error) {
	f, err := os.Open(image)
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	if !st.Mode().IsRegular() || st.Size() == 0 {
		return nil, fmt.Errorf("image %s: not a raw disk image (a non-empty regular file)", image)
	}
	p := &plan{image: image, size: st.Size()}
	p.blocks, err = sparse.Chunks(f, p.size, BlockSize)
	if err != nil {
		return nil, fmt.Errorf("image %s: finding data: %w", image, err)
	}
	buf := make([]byte, BlockSize)
	p.sums = make([][32]byte, len(p.blocks))
	for i, b := range p.blocks {
		data, err := readBlock(f, p.size, b, buf)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", image, err)
		}
		p.sums[i] = sha256.Sum256(data)
	}
	p.digest = p.contentDigest()
	return p, nil
}

// readBlock reads block idx into buf, zero-padding the image's last
// partial block to the full block size EBS requires.
func readBlock(f io.ReaderAt, size, idx int64, buf []byte) ([]byte, error) {
	off := idx * BlockSize
	n, err := f.ReadAt(buf[:min(BlockSize, size-off)], off)
	if err != nil && err != io.EOF {
		return nil, fmt.Errorf("reading block %d: %w", idx, err)
	}
	clear(buf[n:])
	return buf[:BlockSize], nil
}

// contentDigest is the SHA-256 of the image size and every data block's
// index and checksum: equal exactly when the images read the same,
// without hashing the holes of a mostly empty disk.
func (p *plan) contentDigest() string {
	h := sha256.New()
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(p.size))
	h.Write(n[:])
	for i, b := range p.blocks {
		binary.BigEndian.PutUint64(n[:], uint64(b))
		h.Write(n[:])
		h.Write(p.sums[i][:])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// aggregate is CompleteSnapshot's LINEAR checksum: the SHA-256 of the
// blocks' binary SHA-256 digests concatenated in block order, base64.
func (p *plan) aggregate() string {
	h := sha256.New()
	for _, s := range p.sums {
		h.Write(s[:])
	}
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

func (p *plan) totalBlocks() int64 { return (p.size + BlockSize - 1) / BlockSize }

func (p *plan) dataBytes() int64 { return int64(len(p.blocks)) * BlockSize }

func checksum(sum [32]byte) string { return base64.StdEncoding.EncodeToString(sum[:]) }

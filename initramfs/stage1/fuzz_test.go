package main

import (
	"encoding/binary"
	"io"
	"testing"

	"github.com/imgbuild/imgbuild/contract"
	"github.com/imgbuild/imgbuild/internal/gpt"
	"github.com/imgbuild/imgbuild/internal/gpt/gpttest"
)

// FuzzInspectRootDisk feeds stage-1's look at a diskless machine's
// local disk, which may hold anything (another OS, a half-written
// table), the first sectors of that disk.
func FuzzInspectRootDisk(f *testing.F) {
	const sectors = 8192
	disk := make(gpttest.Disk, sectors*512)
	if _, err := gpt.Create(disk, 512, sectors, "6b1f5c2e-0d3a-4c55-9e1a-2b8f4a7c9d01", []gpt.New{{
		Type: contract.ROOT.Type, Unique: "0b5c1a7e-3f2d-4e8a-9c6b-1d2e3f4a5b09", Name: contract.ROOT.Label}}); err != nil {
		f.Fatal(err)
	}
	// Four entries, not 128, keep the seed to three sectors.
	seed := []byte(disk[:3*512])
	binary.LittleEndian.PutUint32(seed[512+80:], 4)
	gpttest.FixCRCs(seed)
	f.Add(uint64(sectors*512*2), seed)
	f.Add(uint64(4<<20*2), []byte{})
	f.Fuzz(func(t *testing.T, size uint64, data []byte) {
		// The disk reads as data followed by zeros up to size: stage-1
		// must never allocate by what the disk says.
		if size&1 == 1 {
			gpttest.FixCRCs(data) // to reach the fields the CRCs cover
		}
		r := &zeroTail{data: data, size: int64(size >> 1)}
		_, _ = inspectRootDisk(r, r.size, 512)
	})
}

// zeroTail reads as data and then zeros, up to size bytes: a large
// disk of which only the first sectors are worth mutating.
type zeroTail struct {
	data []byte
	size int64
}

func (z *zeroTail) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off >= z.size {
		return 0, io.EOF
	}
	n := len(p)
	if rest := z.size - off; int64(n) > rest {
		n = int(rest)
	}
	clear(p[:n])
	if off < int64(len(z.data)) {
		copy(p[:n], z.data[off:])
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

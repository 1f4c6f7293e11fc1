package verity

import (
	"bytes"
	"reflect"
	"runtime"
	"testing"
)

// memImage is a USR partition in memory: data, then the hash area.
type memImage []byte

func (m memImage) WriteAt(p []byte, off int64) (int, error) { return copy(m[off:], p), nil }

const fuzzUUID = "01234567-89ab-cdef-0123-456789abcdef"

// fuzzImage builds the tree of blocks data blocks into a memory image.
func fuzzImage(t testing.TB, blocks int64) (memImage, *Params) {
	data := bytes.Repeat([]byte{0x5a}, int(blocks*BlockSize))
	img := make(memImage, blocks*BlockSize+HashAreaSize(blocks*BlockSize))
	copy(img, data)
	p, err := Build(bytes.NewReader(data), blocks*BlockSize, img, blocks*BlockSize, []byte("salt"), fuzzUUID, 1)
	if err != nil {
		t.Fatal(err)
	}
	return img, p
}

func FuzzReadSuperblock(f *testing.F) {
	uuid, _ := parseUUID(fuzzUUID)
	f.Add(encodeSuperblock(262144, []byte("salt"), uuid))
	f.Fuzz(func(t *testing.T, sb []byte) {
		p, err := ReadSuperblock(bytes.NewReader(sb), 0)
		if err != nil {
			return
		}
		// What Build would write for these parameters reads back as them.
		u, err := parseUUID(p.UUID)
		if err != nil {
			t.Fatalf("UUID %q does not parse: %v", p.UUID, err)
		}
		again, err := ReadSuperblock(bytes.NewReader(encodeSuperblock(p.DataBlocks, p.Salt, u)), 0)
		if err != nil || !reflect.DeepEqual(again, p) {
			t.Errorf("round trip: %+v, %v; want %+v", again, err, p)
		}
	})
}

// FuzzVerify checks an image whose record (not yet trusted: imgbuild
// verify reports a bad signature and checks the tree all the same)
// claims any number of data blocks, over mutated bytes.
func FuzzVerify(f *testing.F) {
	img, p := fuzzImage(f, 3)
	f.Add(uint64(3), []byte(img))
	f.Fuzz(func(t *testing.T, blocks uint64, data []byte) {
		q := *p
		q.DataBlocks = blocks
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		err := Verify(bytes.NewReader(data), q)
		runtime.ReadMemStats(&after)
		if n := after.TotalAlloc - before.TotalAlloc; n > 16<<20+4*uint64(len(data)) {
			t.Errorf("%d bytes of image allocated %d MiB", len(data), n>>20)
		}
		if err == nil && (blocks != 3 || !bytes.Equal(data[:3*BlockSize], img[:3*BlockSize])) {
			t.Errorf("%d blocks of other data verified", blocks)
		}
	})
}

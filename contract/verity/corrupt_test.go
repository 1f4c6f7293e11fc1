package verity

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestVerifyCatchesCorruption(t *testing.T) {
	// 16500 data blocks: bottom level 129 blocks (the last one holds 116
	// digests), level 1 two blocks, top level one. On disk after the
	// superblock block: top at tree block 0, level 1 at 1-2, bottom at 3-131.
	const blocks = 16500
	const d = blocks * BlockSize
	const tree = d + BlockSize
	salt := []byte("imgbuild-test-salt")
	const uuid = "11111111-2222-3333-4444-555555555555"
	dir := t.TempDir()
	good := writeRandom(t, dir, "good.img", blocks)
	p := buildFile(t, good, d, salt, uuid, 0)

	tests := []struct {
		name string
		flip []int64 // byte offsets to invert
		want CorruptError
	}{
		{"data", []int64{5000*BlockSize + 17}, CorruptError{Kind: "data", Level: -1, Block: 5000, Offset: 5000 * BlockSize}},
		{"first of two data blocks", []int64{9000 * BlockSize, 100*BlockSize + 4095},
			CorruptError{Kind: "data", Level: -1, Block: 100, Offset: 100 * BlockSize}},
		{"last data block", []int64{d - 1}, CorruptError{Kind: "data", Level: -1, Block: blocks - 1, Offset: d - BlockSize}},
		{"bottom hash", []int64{tree + (3+40)*BlockSize + 100}, CorruptError{Kind: "hash", Level: 0, Block: 40, Offset: tree + (3+40)*BlockSize}},
		{"bottom padding", []int64{tree + (3+128)*BlockSize + 120*digestSize}, CorruptError{Kind: "hash", Level: 0, Block: 128, Offset: tree + (3+128)*BlockSize}},
		{"level 1", []int64{tree + 2*BlockSize + 5}, CorruptError{Kind: "hash", Level: 1, Block: 1, Offset: tree + 2*BlockSize}},
		{"top", []int64{tree + 31}, CorruptError{Kind: "hash", Level: 2, Block: 0, Offset: tree}},
		{"hash beats data", []int64{10, tree + (3+100)*BlockSize}, CorruptError{Kind: "hash", Level: 0, Block: 100, Offset: tree + (3+100)*BlockSize}},
		{"superblock salt", []int64{d + sbSalt + 3}, CorruptError{Kind: "superblock", Level: -1, Offset: d}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := filepath.Join(t.TempDir(), "bad.img")
			copyFile(t, good, bad)
			flipBytes(t, bad, tt.flip...)

			err := Verify(mustOpen(t, bad), *p)
			var ce *CorruptError
			if !errors.As(err, &ce) {
				t.Fatalf("Verify = %v, want a CorruptError", err)
			}
			got := *ce
			got.Reason = ""
			if got != tt.want {
				t.Errorf("Verify = %v\nwant block %+v", err, tt.want)
			}
			if out, err := veritysetupVerify(t, bad, p); err == nil {
				t.Errorf("veritysetup verify accepted the corrupted image:\n%s", out)
			}
		})
	}
}

func flipBytes(t *testing.T, path string, offsets ...int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, off := range offsets {
		b := make([]byte, 1)
		if _, err := f.ReadAt(b, off); err != nil {
			t.Fatal(err)
		}
		b[0] ^= 0xff
		if _, err := f.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
	}
}

func TestVerifySingleBlock(t *testing.T) {
	dir := t.TempDir()
	path := writeRandom(t, dir, "one.img", 1)
	p := buildFile(t, path, BlockSize, []byte{1}, "", 0)
	if err := Verify(mustOpen(t, path), *p); err != nil {
		t.Fatalf("Verify of a good image: %v", err)
	}
	flipBytes(t, path, 7)
	var ce *CorruptError
	if err := Verify(mustOpen(t, path), *p); !errors.As(err, &ce) || ce.Kind != "data" || ce.Block != 0 {
		t.Errorf("Verify = %v, want data block 0", err)
	}
}

func TestBuildRejects(t *testing.T) {
	dir := t.TempDir()
	path := writeRandom(t, dir, "d.img", 4)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tests := []struct {
		name     string
		dataSize int64
		offset   int64
		salt     []byte
		uuid     string
	}{
		{"size not a block multiple", 4*BlockSize - 1, 4 * BlockSize, nil, ""},
		{"empty", 0, 4 * BlockSize, nil, ""},
		{"unaligned hash offset", 4 * BlockSize, 4*BlockSize + 512, nil, ""},
		{"salt too long", 4 * BlockSize, 4 * BlockSize, make([]byte, 257), ""},
		{"bad uuid", 4 * BlockSize, 4 * BlockSize, nil, "not-a-uuid"},
		{"short read", 8 * BlockSize, 8 * BlockSize, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Build(f, tt.dataSize, f, tt.offset, tt.salt, tt.uuid, 0); err == nil {
				t.Errorf("Build accepted it")
			}
		})
	}
}

package main

import (
	"bytes"
	"os"
	"testing"

	"github.com/google/uuid"
)

func TestHasExt4(t *testing.T) {
	fsImg := tempPath(t, "fs.img")
	runTool(t, "mkfs.ext4", "-q", "-F", fsImg, "8M")
	ext2Img := tempPath(t, "ext2.img")
	runTool(t, "mkfs.ext2", "-q", "-F", ext2Img, "8M")
	mine := tempPath(t, "mine.img")
	f, _ := os.Create(mine)
	f.Truncate(16 << 20)
	if _, err := mkfsExt4(f, 0, 16<<20, uuid.New(), "ROOT"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	read := func(p string) []byte {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// magic one byte off where it belongs
	shifted := make([]byte, 4096)
	shifted[1081], shifted[1082] = 0x53, 0xEF

	tests := []struct {
		name string
		img  []byte
		off  int64
		want bool
	}{
		{"mke2fs ext4", read(fsImg), 0, true},
		{"mke2fs ext2", read(ext2Img), 0, true},
		{"go-diskfs ext4", read(mine), 0, true},
		{"zeros", make([]byte, 4096), 0, false},
		{"shifted magic", shifted, 0, false},
		{"at an offset", append(make([]byte, 1<<20), read(fsImg)...), 1 << 20, true},
	}
	for _, tt := range tests {
		got, err := hasExt4(bytes.NewReader(tt.img), tt.off)
		if err != nil || got != tt.want {
			t.Errorf("%s: %v, %v; want %v", tt.name, got, err, tt.want)
		}
	}
	if _, err := hasExt4(bytes.NewReader(make([]byte, 100)), 0); err == nil {
		t.Error("short device: no error")
	}
}

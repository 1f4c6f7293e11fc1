package esp

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem/fat32"
	"github.com/imgbuild/imgbuild/images/disk"
	"github.com/imgbuild/imgbuild/internal/fat"
)

// TestGoDiskfsReadsPastEOF pins a go-diskfs v1.9.4 reader bug: File.Read
// returns bytes past the end of some small files (whole sectors), so a
// 570-byte file can read as 768 bytes. ReadFiles works around it by
// trusting the directory entry's size. When this test fails, go-diskfs
// is fixed and the workaround can go.
func TestGoDiskfsReadsPastEOF(t *testing.T) {
	var files []fat.File
	for n := 1; n <= 2100; n += 37 {
		files = append(files, fat.File{Path: fmt.Sprintf("f/%04d", n), Data: bytes.Repeat([]byte{'x'}, n)})
	}
	img := filepath.Join(t.TempDir(), "disk.img")
	l := disk.Layout{DiskGUID: disk.GUID("t", "disk"), Partitions: []disk.Partition{{Number: 1, Label: "EFI-SYSTEM", TypeGUID: disk.TypeESP, GUID: disk.GUID("t", "esp"), Size: 40 * disk.MiB,
		Content: fat.Content(40*disk.MiB, files, 1, "EFI-SYSTEM", time.Date(2024, 5, 17, 12, 34, 56, 0, time.UTC))}}}
	if err := disk.Write(img, l); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fs, err := fat32.Read(file.New(f, true), 40*disk.MiB, disk.MiB, 512)
	if err != nil {
		t.Fatal(err)
	}
	wrong := 0
	for _, want := range files {
		r, err := fs.OpenFile("/"+want.Path, os.O_RDONLY)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(r)
		if len(got) != len(want.Data) {
			wrong++
		}
	}
	if wrong == 0 {
		t.Error("go-diskfs read every file at its size: the bug is fixed, drop the LimitReader workaround in ReadFiles")
	}
	read, err := ReadFiles(img, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range files {
		if !bytes.Equal(read[want.Path], want.Data) {
			t.Errorf("ReadFiles %s: %d bytes, want %d", want.Path, len(read[want.Path]), len(want.Data))
		}
	}
	if len(read) != len(files) {
		t.Errorf("ReadFiles found %d files, want %d", len(read), len(files))
	}
	if _, err := ReadFiles(img, 3); err == nil {
		t.Error("ReadFiles of missing partition 3 succeeded")
	}
}

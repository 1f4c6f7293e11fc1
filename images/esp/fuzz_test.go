package esp

import (
	"encoding/binary"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/images/disk"
	"github.com/imgbuild/imgbuild/internal/fat"
)

// espSize is the smallest size of FAT32 ESP the writer makes, rounded up.
const espSize = 40 * disk.MiB

// espImage is a disk image with an ESP at 1 MiB holding files.
func espImage(t testing.TB, files []fat.File) string {
	img := t.TempDir() + "/disk.img"
	l := disk.Layout{DiskGUID: disk.GUID("t", "disk"), Partitions: []disk.Partition{{Number: 1, Label: "EFI-SYSTEM", TypeGUID: disk.TypeESP,
		GUID: disk.GUID("t", "esp"), Size: espSize, Content: fat.Content(espSize, files, 1, "EFI-SYSTEM", time.Date(2024, 5, 17, 12, 34, 56, 0, time.UTC))}}}
	if err := disk.Write(img, l); err != nil {
		t.Fatal(err)
	}
	return img
}

// FuzzReadFiles reads the ESP of an image as imgbuild verify and inspect
// do, with its file system's first sectors (boot sector, FSInfo, the
// start of the FAT) and the start of its data area (the root directory
// and the first files) replaced by the input: the rest of a 40 MiB
// ESP is no use to mutate.
func FuzzReadFiles(f *testing.F) {
	img := espImage(f, []fat.File{{Path: "loader/entries/imgbuild-a+3.conf", Data: []byte("title a\nlinux /a/vmlinuz\n")},
		{Path: "imgbuild/a/release.json", Data: []byte(`{"format":"imgbuild-release/2"}`)}, {Path: "EFI/BOOT/BOOTX64.EFI", Data: make([]byte, 5000)}})
	orig, err := os.ReadFile(img)
	if err != nil {
		f.Fatal(err)
	}
	esp := orig[disk.MiB:]
	le := binary.LittleEndian
	dataStart := (int64(le.Uint16(esp[14:])) + int64(esp[16])*int64(le.Uint32(esp[36:]))) * sectorSize
	const headSize, dataSize = 32 << 10, 16 << 10
	f.Add(esp[:headSize], esp[dataStart:dataStart+dataSize])
	w, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { w.Close() })
	put := func(off int64, b []byte) {
		if _, err := w.WriteAt(b, disk.MiB+off); err != nil {
			f.Fatal(err)
		}
	}
	f.Fuzz(func(t *testing.T, head, data []byte) {
		head, data = head[:min(len(head), headSize)], data[:min(len(data), dataSize)]
		put(0, head)
		put(dataStart, data)
		defer put(0, esp[:len(head)])
		defer put(dataStart, esp[dataStart:dataStart+int64(len(data))])
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		got, err := ReadFiles(img, 1)
		runtime.ReadMemStats(&after)
		// go-diskfs holds the FATs in memory, a few times over: bounded
		// by the partition, never by what the boot sector claims.
		if n := after.TotalAlloc - before.TotalAlloc; n > 8*espSize {
			t.Errorf("reading a %d MiB ESP allocated %d MiB", espSize>>20, n>>20)
		}
		if err != nil {
			if !strings.HasPrefix(err.Error(), "esp: ") {
				t.Errorf("error without context: %v", err)
			}
			return
		}
		// Names are the disk's bytes (code page, not UTF-8), but no
		// element may lead out of the ESP.
		for p := range got {
			for _, el := range strings.Split(p, "/") {
				if el == "" || el == "." || el == ".." {
					t.Errorf("file %q outside the ESP", p)
				}
			}
		}
	})
}

// putUint32 writes v at byte off of the ESP in the disk image img.
func putUint32(t *testing.T, img string, off int64, v uint32) {
	w, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.WriteAt(binary.LittleEndian.AppendUint32(nil, v), disk.MiB+off); err != nil {
		t.Fatal(err)
	}
}

// TestReadFilesRefusesOversizedFAT: a boot sector claiming 2 GiB FATs
// made the read of a 40 MiB ESP allocate 6 GiB.
func TestReadFilesRefusesOversizedFAT(t *testing.T) {
	img := espImage(t, nil)
	putUint32(t, img, 36, 1<<22) // sectors per FAT: 2 GiB
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := ReadFiles(img, 1)
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), "do not fit") {
		t.Errorf("ReadFiles: %v, want a boot sector error", err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 256<<20 {
		t.Errorf("allocated %d MiB", n>>20)
	}
}

// TestReadFilesRefusesLoopingChain: a root directory whose cluster (2)
// is followed by itself in both FATs made the read hang.
func TestReadFilesRefusesLoopingChain(t *testing.T) {
	img := espImage(t, nil)
	esp, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	reserved, fatSize := int64(binary.LittleEndian.Uint16(esp[disk.MiB+14:])), int64(binary.LittleEndian.Uint32(esp[disk.MiB+36:]))
	for _, fat := range []int64{reserved, reserved + fatSize} {
		putUint32(t, img, fat*sectorSize+2*4, 2)
	}
	if _, err := ReadFiles(img, 1); err == nil || !strings.Contains(err.Error(), "loops") {
		t.Errorf("ReadFiles: %v, want a loop error", err)
	}
}

package fat

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/imgbuild/imgbuild/images/disk"
)

func TestFAT16AgreesWithFsckAndMtools(t *testing.T) {
	// 3 MiB is near the smallest FAT16, 16 MiB the default OEM
	// partition, 32 MiB just below where FAT32 starts.
	for _, mib := range []int64{3, 16, 32} {
		t.Run(fmt.Sprintf("%dMiB", mib), func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "oem.img")
			f, err := os.Create(img)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if err := f.Truncate(mib * disk.MiB); err != nil {
				t.Fatal(err)
			}
			if err := WriteFAT16(f, mib*disk.MiB, testESPFiles(), 0x12345678, "OEM", testEpoch); err != nil {
				t.Fatal(err)
			}
			checkFATBits(t, img, img, "16")
		})
	}
}

func TestFAT16RefusesWhatDoesNotFit(t *testing.T) {
	if _, err := newFAT16Geometry(1 * disk.MiB); err == nil {
		t.Error("1 MiB accepted: below FAT16's 4085 clusters")
	}
	many := make([]File, 600)
	for i := range many {
		many[i] = File{Path: fmt.Sprintf("F%d", i), Data: []byte("x")}
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "oem.img"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := WriteFAT16(f, 16*disk.MiB, many, 1, "OEM", testEpoch); err == nil {
		t.Error("600 root entries accepted: the FAT16 root holds 512")
	}
}

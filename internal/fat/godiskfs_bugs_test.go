package fat

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem/fat32"
	"github.com/imgbuild/imgbuild/images/disk"
	"github.com/imgbuild/imgbuild/internal/reftool"
)

// TestGoDiskfsFAT32Bugs pins the go-diskfs v1.9.4 FAT32 writer bugs that
// made us write our own (esp_write.go): fsck.fat rejects its output. When
// this test starts failing, go-diskfs has been fixed and could be
// reconsidered.
func TestGoDiskfsFAT32Bugs(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	tests := []struct {
		mib  int64
		want string
	}{
		// A first-level directory's ".." must point to cluster 0 (the
		// root), go-diskfs writes the root's cluster number.
		{96, "Invalid '..' entry"},
		// Its FAT is two entries too small for some sizes.
		{64, "but only space for"},
		{129, "but only space for"},
	}
	for _, tt := range tests {
		img := filepath.Join(t.TempDir(), "fat.img")
		f, err := os.Create(img)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(tt.mib * disk.MiB); err != nil {
			t.Fatal(err)
		}
		fs, err := fat32.Create(file.New(f, false), tt.mib*disk.MiB, 0, 512, "ESP", true)
		if err != nil {
			t.Fatalf("%d disk.MiB: fat32.Create: %v", tt.mib, err)
		}
		if err := fs.Mkdir("/EFI/BOOT"); err != nil {
			t.Fatal(err)
		}
		f.Close()
		out, err := reftool.Run(t, "fsck.fat", "-n", img)
		if err == nil || !strings.Contains(out, tt.want) {
			t.Errorf("%d disk.MiB: go-diskfs FAT32 no longer shows the bug %q (fsck.fat err %v):\n%s", tt.mib, tt.want, err, out)
		}
	}
}

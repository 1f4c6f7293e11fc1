package repro

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imgbuild/imgbuild/images/disk"
	"github.com/imgbuild/imgbuild/internal/fat"
)

func TestFirstDifference(t *testing.T) {
	big := strings.Repeat("x", 3*chunk+17)
	tests := []struct {
		name, a, b string
		want       int64
	}{
		{"equal", "abc", "abc", NoDifference},
		{"empty", "", "", NoDifference},
		{"first byte", "abc", "xbc", 0},
		{"middle", "abcdef", "abcXef", 3},
		{"prefix", "abc", "abcd", -1},
		{"past first chunk", big + "a" + big, big + "b" + big, int64(len(big))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
			os.WriteFile(a, []byte(tc.a), 0o644)
			os.WriteFile(b, []byte(tc.b), 0o644)
			got, sa, sb, err := FirstDifference(a, b)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want || sa != int64(len(tc.a)) || sb != int64(len(tc.b)) {
				t.Errorf("FirstDifference = %d (%d, %d), want %d", got, sa, sb, tc.want)
			}
		})
	}
}

// writeImage makes a small GPT image with an ESP holding files and a
// second partition holding usr.
func writeImage(t *testing.T, path string, files []fat.File, usr []byte, mtime time.Time) {
	t.Helper()
	l := disk.Layout{DiskGUID: disk.GUID("t", "disk"), Partitions: []disk.Partition{
		{Number: 1, Label: "EFI-SYSTEM", TypeGUID: disk.TypeESP, GUID: disk.GUID("t", "esp"), Size: 40 * disk.MiB,
			Content: fat.Content(40*disk.MiB, files, 1234, "EFI-SYSTEM", mtime)},
		{Number: 3, Label: "USR-A", TypeGUID: disk.TypeUSR, GUID: disk.GUID("t", "usr"), Size: disk.MiB,
			Content: func(w io.WriterAt) error { _, err := w.WriteAt(usr, 0); return err }},
	}}
	if err := disk.Write(path, l); err != nil {
		t.Fatal(err)
	}
}

func TestCompareDirsExplainsImages(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	base := []fat.File{{Path: "EFI/BOOT/BOOTX64.EFI", Data: []byte("boot")}, {Path: "loader/loader.conf", Data: []byte("timeout 0\n")}}
	changed := []fat.File{base[0], {Path: "loader/loader.conf", Data: []byte("timeout 1\n")}}
	tests := []struct {
		name               string
		files              []fat.File
		usr                []byte
		mtime              time.Time
		wantPart, wantFile string
		wantDetail         string
	}{
		{"identical", base, []byte("usr"), t0, "", "", ""},
		{"ESP file", changed, []byte("usr"), t0, "1 EFI-SYSTEM", "loader/loader.conf", "file content differs"},
		{"ESP time", base, []byte("usr"), t0.Add(time.Hour), "1 EFI-SYSTEM", "", "FAT metadata"},
		{"USR", base, []byte("usR"), t0, "3 USR-A", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := t.TempDir(), t.TempDir()
			writeImage(t, filepath.Join(a, "x.img"), base, []byte("usr"), t0)
			writeImage(t, filepath.Join(b, "x.img"), tc.files, tc.usr, tc.mtime)
			os.WriteFile(filepath.Join(a, "x.json"), []byte("{}"), 0o644)
			os.WriteFile(filepath.Join(b, "x.json"), []byte("{}"), 0o600)
			diffs, err := CompareDirs(a, b)
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantPart == "" {
				if len(diffs) != 0 {
					t.Fatalf("want no differences, got %v", diffs)
				}
				return
			}
			if len(diffs) != 1 {
				t.Fatalf("want one difference, got %v", diffs)
			}
			d := diffs[0]
			if d.Partition != tc.wantPart || d.File != tc.wantFile || !strings.Contains(d.Detail, tc.wantDetail) {
				t.Errorf("got %q (partition %q, file %q, detail %q), want partition %q file %q detail ~%q",
					d, d.Partition, d.File, d.Detail, tc.wantPart, tc.wantFile, tc.wantDetail)
			}
			if d.Offset < d.PartStart {
				t.Errorf("offset %d before its partition at %d", d.Offset, d.PartStart)
			}
		})
	}
}

func TestCompareDirsMissingFile(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(a, "only.initrd"), []byte("x"), 0o644)
	diffs, err := CompareDirs(a, b)
	if err != nil || len(diffs) != 1 || diffs[0].Artifact != "only.initrd" {
		t.Fatalf("CompareDirs = %v, %v; want only.initrd missing", diffs, err)
	}
}

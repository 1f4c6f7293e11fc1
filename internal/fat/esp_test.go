package fat

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/imgbuild/imgbuild/images/disk"
	"github.com/imgbuild/imgbuild/internal/reftool"
)

// wantFiles is what testESPFiles should read back as.
func wantFiles(t *testing.T) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, f := range testESPFiles() {
		b := f.Data
		if f.Open != nil {
			r, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			if b, err = io.ReadAll(r); err != nil {
				t.Fatal(err)
			}
		}
		if b == nil {
			b = []byte{}
		}
		out[f.Path] = b
	}
	return out
}

// wantListing is `mdir -/ -b` of testESPFiles: every file and directory.
func wantListing(files map[string][]byte) []string {
	set := map[string]bool{}
	for p := range files {
		set["::/"+p] = true
		for d := filepath.Dir(p); d != "."; d = filepath.Dir(d) {
			set["::/"+d+"/"] = true
		}
	}
	var out []string
	for p := range set {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// checkFAT checks the FAT file system at img (optionally @@offset) with
// fsck.fat and mtools against the test files.
func checkFAT(t *testing.T, fsImage, mtoolsImage string) { checkFATBits(t, fsImage, mtoolsImage, "32") }

// checkFATBits is checkFAT for a FAT of bits ("16" or "32") entries.
func checkFATBits(t *testing.T, fsImage, mtoolsImage, bits string) {
	t.Helper()
	out, err := reftool.Run(t, "fsck.fat", "-n", "-v", fsImage)
	if err != nil {
		t.Errorf("fsck.fat -n: %v\n%s", err, out)
	}
	for _, bad := range []string{"Invalid", "only space", "uninitialized", "differ", "Fixing", "Warning", "wrong"} {
		if strings.Contains(out, bad) {
			t.Errorf("fsck.fat -n complains (%q):\n%s", bad, out)
		}
	}
	if !strings.Contains(out, bits+" bit entries") {
		t.Errorf("fsck.fat does not see FAT%s:\n%s", bits, out)
	}

	want := wantFiles(t)
	listing := strings.Split(strings.TrimSpace(reftool.Must(t, "mdir", "-i", mtoolsImage, "-/", "-b", "::")), "\n")
	sort.Strings(listing)
	if w := wantListing(want); strings.Join(listing, "\n") != strings.Join(w, "\n") {
		t.Errorf("mdir lists\n%s\nwant\n%s", strings.Join(listing, "\n"), strings.Join(w, "\n"))
	}
	dir := t.TempDir()
	reftool.Must(t, "mcopy", "-i", mtoolsImage, "-s", "-n", "::/", dir+"/")
	for p, b := range want {
		got, err := os.ReadFile(filepath.Join(dir, p))
		if err != nil {
			t.Errorf("mcopy: %v", err)
			continue
		}
		if !bytes.Equal(got, b) {
			t.Errorf("mcopy %s: %d bytes differ from the %d written", p, len(got), len(b))
		}
	}
}

func TestESPAgreesWithFsckAndMtools(t *testing.T) {
	// 33 disk.MiB is about the smallest FAT32; 64, 129, 194, 259 and 505 disk.MiB
	// are sizes go-diskfs gets wrong; 260/261 disk.MiB cross mkfs.fat's
	// cluster size step.
	for _, mib := range []int64{33, 64, 96, 129, 194, 259, 261, 505, 1024} {
		t.Run(fmt.Sprintf("%dMiB", mib), func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "esp.img")
			f, err := os.Create(img)
			if err != nil {
				t.Fatal(err)
			}
			if err := f.Truncate(mib * disk.MiB); err != nil {
				t.Fatal(err)
			}
			if err := Write(f, mib*disk.MiB, testESPFiles(), 0xdeadbeef, "ESP", testEpoch); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			checkFAT(t, img, img)
		})
	}
}

func TestESPInImage(t *testing.T) {
	img := filepath.Join(t.TempDir(), "disk.img")
	if err := disk.Write(img, testImage(96*disk.MiB)); err != nil {
		t.Fatal(err)
	}
	info, err := disk.Read(img)
	if err != nil {
		t.Fatal(err)
	}
	esp, _ := info.Partition(1)
	checkFAT(t, reftool.Extract(t, img, esp.Start, esp.Size), fmt.Sprintf("%s@@%d", img, esp.Start))

	// images/esp reads it back (TestReadFiles).
}

func TestESPErrors(t *testing.T) {
	tests := []struct {
		name  string
		size  int64
		files []File
		label string
		want  string
	}{
		{"too small", 32 * disk.MiB, nil, "", "too small for FAT32"},
		{"file too big", 40 * disk.MiB, []File{{Path: "a/big.bin", Data: make([]byte, 41*disk.MiB)}}, "", "a/big.bin"},
		{"short stream", 40 * disk.MiB, []File{{Path: "s", Size: 10, Open: func() (io.ReadCloser, error) {
			return io.NopCloser(strings.NewReader("abc")), nil
		}}}, "", "got 3 bytes"},
		{"twice", 40 * disk.MiB, []File{{Path: "EFI/x"}, {Path: "efi/X"}}, "", "efi/X"},
		{"file and dir", 40 * disk.MiB, []File{{Path: "a"}, {Path: "a/b"}}, "", "a/b"},
		{"bad char", 40 * disk.MiB, []File{{Path: "a:b"}}, "", "not allowed"},
		{"bad label", 40 * disk.MiB, nil, "esp", "volume label"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &memWriterAt{}
			err := Write(w, tt.size, tt.files, 1, tt.label, testEpoch)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Write error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

type memWriterAt struct{ b []byte }

func (m *memWriterAt) WriteAt(p []byte, off int64) (int, error) {
	if need := off + int64(len(p)); need > int64(len(m.b)) {
		m.b = append(m.b, make([]byte, need-int64(len(m.b)))...)
	}
	return copy(m.b[off:], p), nil
}

func TestESPDeterministic(t *testing.T) {
	a, b := &memWriterAt{}, &memWriterAt{}
	for _, w := range []*memWriterAt{a, b} {
		if err := Write(w, 64*disk.MiB, testESPFiles(), 7, "ESP", testEpoch); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(a.b, b.b) {
		t.Error("two Write runs differ")
	}
	c := &memWriterAt{}
	if err := Write(c, 64*disk.MiB, testESPFiles(), 7, "ESP", testEpoch.Add(2e9)); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a.b, c.b) {
		t.Error("modTime does not reach the file system")
	}
}

package vmdk

import (
	"bytes"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgbuild/imgbuild/internal/reftool"
)

// rawImage is a sparse raw disk with data at the start, in the middle
// (straddling grain and grain-table boundaries), an all-zero written
// grain, and data in the last, partial grain.
func rawImage(t *testing.T, size int64) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "disk.raw")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(1))
	random := make([]byte, 200_000)
	rng.Read(random)
	text := bytes.Repeat([]byte("imgbuild vmdk "), 20_000)
	for _, w := range []struct {
		off  int64
		data []byte
	}{
		{0, text[:4096]},
		{gtEntries*grainSize - 1000, random},     // across a grain table boundary
		{5 * grainSize, make([]byte, grainSize)}, // written zeros: not stored
		{7*grainSize + 17, text},                 // compressible, several grains
		{size - 3*sectorSize, []byte("last sectors")},
	} {
		if _, err := f.WriteAt(w.data, w.off); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

func TestConvertAgreesWithQemuImg(t *testing.T) {
	for _, size := range []int64{70 << 20, 70<<20 + 7*sectorSize} {
		raw := rawImage(t, size)
		out := filepath.Join(t.TempDir(), "disk.vmdk")
		if err := Convert(raw, out); err != nil {
			t.Fatal(err)
		}
		reftool.Must(t, "qemu-img", "check", "-f", "vmdk", out)
		info := reftool.Must(t, "qemu-img", "info", "-f", "vmdk", out)
		for _, want := range []string{"streamOptimized", "compressed: true"} {
			if !strings.Contains(info, want) {
				t.Errorf("qemu-img info lacks %q:\n%s", want, info)
			}
		}
		if cmp, err := reftool.Run(t, "qemu-img", "compare", "-f", "raw", "-F", "vmdk", raw, out); err != nil {
			t.Errorf("qemu-img compare (size %d): %v\n%s", size, err, cmp)
		}
		st, _ := os.Stat(out)
		if st.Size() > 2<<20 {
			t.Errorf("vmdk of a mostly empty disk is %d bytes", st.Size())
		}
	}
}

func TestConvertDeterministic(t *testing.T) {
	raw := rawImage(t, 40<<20)
	a, b := filepath.Join(t.TempDir(), "disk.vmdk"), filepath.Join(t.TempDir(), "disk.vmdk") // the name is in the descriptor
	if err := Convert(raw, a); err != nil {
		t.Fatal(err)
	}
	if err := Convert(raw, b); err != nil {
		t.Fatal(err)
	}
	da, _ := os.ReadFile(a)
	db, _ := os.ReadFile(b)
	if !bytes.Equal(da, db) {
		t.Error("two conversions of the same raw image differ")
	}
}

func TestConvertRefusesPartialSector(t *testing.T) {
	p := filepath.Join(t.TempDir(), "odd.raw")
	if err := os.WriteFile(p, make([]byte, 1000), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "odd.vmdk")
	if err := Convert(p, out); err == nil || !strings.Contains(err.Error(), "sectors") {
		t.Errorf("err = %v", err)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a failed conversion left its output")
	}
}

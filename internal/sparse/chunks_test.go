package sparse

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestChunksAndCopy(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	f, err := os.Create(src)
	if err != nil {
		t.Fatal(err)
	}
	const size = 10<<20 + 12345
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	writes := map[int64][]byte{
		0:         []byte("start"),
		3<<20 - 2: []byte("across"),     // chunks 2 and 3 of 1 MiB
		5 << 20:   make([]byte, 1<<20),  // written zeros: no data
		size - 10: []byte("last bytes"), // the partial last chunk
	}
	for off, b := range writes {
		if _, err := f.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	in, _ := os.Open(src)
	defer in.Close()
	got, err := Chunks(in, size, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	want := []int64{0, 2, 3, 10}
	if len(got) != len(want) {
		t.Fatalf("Chunks = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("Chunks = %v, want %v", got, want)
		}
	}
	dst, err := os.Create(filepath.Join(dir, "dst"))
	if err != nil {
		t.Fatal(err)
	}
	if err := Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	dst.Close()
	a, _ := os.ReadFile(src)
	b, _ := os.ReadFile(filepath.Join(dir, "dst"))
	if !bytes.Equal(a, b) {
		t.Error("copy differs from its source")
	}
}

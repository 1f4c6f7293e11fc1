package ext4

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// FuzzOpen feeds damaged file systems to the reader: it must return
// errors, never panic, hang or allocate by a size the input claims
// (sizes are checked against the file system's, extent trees against
// the file's blocks).
func FuzzOpen(f *testing.F) {
	if _, err := exec.LookPath("mke2fs"); err == nil {
		dir := f.TempDir()
		os.MkdirAll(filepath.Join(dir, "var/log"), 0o755)
		os.WriteFile(filepath.Join(dir, "var/log/a"), bytes.Repeat([]byte("journal\n"), 300), 0o644)
		img := filepath.Join(f.TempDir(), "fs.img")
		if out, err := exec.Command("mke2fs", "-q", "-F", "-t", "ext4", "-b", "1024", "-N", "16", "-O", "^has_journal,^resize_inode", "-d", dir, img, "256K").CombinedOutput(); err != nil {
			f.Fatalf("mke2fs: %v\n%s", err, out)
		}
		seed, err := os.ReadFile(img)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(seed)
	}
	f.Add(make([]byte, 2048))
	f.Fuzz(func(t *testing.T, data []byte) {
		fsys, err := Open(bytes.NewReader(data))
		if err != nil {
			return
		}
		var visit func(dir string, depth int)
		visit = func(dir string, depth int) {
			if depth > 8 { // a directory may name an ancestor: damage, not recursion
				return
			}
			es, err := fsys.ReadDir(dir)
			if err != nil {
				return
			}
			for _, e := range es {
				p := filepath.Join(dir, e.Name())
				if e.IsDir() {
					visit(p, depth+1)
					continue
				}
				fs.ReadFile(fsys, p)
			}
		}
		visit(".", 0)
	})
}

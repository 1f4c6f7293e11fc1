package fsutil

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSumsCatchDamage(t *testing.T) {
	for _, c := range []struct {
		name, want string
		damage     func(dir string)
	}{
		{"intact", "", func(string) {}},
		{"flip", "sub/b: sha256", func(dir string) { os.WriteFile(filepath.Join(dir, "sub/b"), []byte("bbbc"), 0o644) }},
		{"truncate", "a: sha256", func(dir string) { os.Truncate(filepath.Join(dir, "a"), 1) }},
		{"extra", "3 files", func(dir string) { os.WriteFile(filepath.Join(dir, "c"), nil, 0o644) }},
		{"no sums", "no SHA256SUMS", func(dir string) { os.Remove(filepath.Join(dir, SumsFile)) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			os.MkdirAll(filepath.Join(dir, "sub"), 0o755)
			os.WriteFile(filepath.Join(dir, "a"), []byte("aaaa"), 0o644)
			os.WriteFile(filepath.Join(dir, "sub/b"), []byte("bbbb"), 0o644)
			if err := WriteSums(dir); err != nil {
				t.Fatal(err)
			}
			c.damage(dir)
			err := CheckSums(dir)
			if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
				t.Errorf("CheckSums: %v, want %q", err, c.want)
			}
		})
	}
}

package kernel

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestCompressedModules rebuilds part of the test kernel's tree with
// modules compressed as newer kernels ship them (xz, zstd, gzip, by the
// reference tools) and checks that the closure is the same.
func TestCompressedModules(t *testing.T) {
	k := testKernel(t)
	want, err := k.Closure([]string{"dm_verity", "virtio_blk"})
	if err != nil {
		t.Fatal(err)
	}
	tools := map[string][]string{".xz": {"xz", "-q"}, ".zst": {"zstd", "-q", "--rm"}, ".gz": {"gzip"}}
	for suffix, tool := range tools {
		t.Run(suffix, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), k.Release)
			for _, m := range want {
				dst := filepath.Join(dir, m.RelPath)
				os.MkdirAll(filepath.Dir(dst), 0o755)
				body, err := os.ReadFile(m.Path)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(dst, body, 0o644); err != nil {
					t.Fatal(err)
				}
				mustTool(t, append(tool, dst)...)
			}
			l, err := FromLocal(k.VmlinuzPath, dir)
			if err != nil {
				t.Fatal(err)
			}
			got, err := l.Closure([]string{"dm-verity", "virtio_blk"})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(names(got), names(want)) {
				t.Errorf("closure %v, want %v", names(got), names(want))
			}
			for _, m := range got {
				if filepath.Ext(m.Path) != suffix {
					t.Errorf("%s: path %s is not the compressed file", m.Name, m.Path)
				}
			}
		})
	}
}
